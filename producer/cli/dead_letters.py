"""``modelfleet dead-letters``: list the inputs that killed their workers, or send them again."""

from __future__ import annotations

import click
import redis

from producer.cli.exits import EPILOG, ExitCode
from producer.cli.results import print_results
from producer.connection import check_reachable, redact
from producer.executor import FleetExecutor
from worker_config import clients
from worker_config.errors import BrokerUnreachable
from worker_config.records import dead_letters as letters
from worker_config.settings import load_settings


@click.command("dead-letters", epilog=EPILOG)
@click.option(
    "--replay", is_flag=True, help="Send every dead-lettered input again, then forget it."
)
@click.option("--wait", "-w", is_flag=True, help="With --replay: print the results as JSON lines.")
@click.option("--timeout", "-t", type=click.FloatRange(0), help="Seconds to wait with --wait.")
def dead_letters(replay: bool, wait: bool, timeout: float | None) -> ExitCode:
    """List inputs whose worker process died each time they ran (one JSON object per line).

    With --replay, send them again (to the queue they came from; start a fixed worker first)
    and remove them from the list; prints the new task IDs, or with --wait the results.
    """
    settings = load_settings()
    check_reachable(settings)  # both: a wrong broker password is reported before --replay
    client = clients.backend(settings, clients.Purpose.SHORT)
    try:
        entries = letters.read(client, settings)
        if not replay:
            for _, letter in entries:
                click.echo(letter.to_json())
            return ExitCode.OK
        by_queue: dict[str, list[tuple[bytes, letters.DeadLetter]]] = {}
        for raw, letter in reversed(entries):  # oldest first
            by_queue.setdefault(letter.queue, []).append((raw, letter))
        code = ExitCode.OK
        for queue, group in by_queue.items():
            executor = FleetExecutor(settings.model_copy(update={"queue": queue}))
            job = executor.submit_batches([letter.id for _, letter in group])
            letters.remove(client, settings, [raw for raw, _ in group])
            click.echo(f"replayed {len(group)} input(s) to queue {queue!r}", err=True)
            if wait:
                code = max(code, print_results(job, timeout))
            else:
                for task_id in job.task_ids:
                    click.echo(task_id)
        return code
    except (redis.ConnectionError, redis.TimeoutError, BrokerUnreachable) as exc:
        raise BrokerUnreachable(
            f"cannot read the dead letters from {redact(settings.result_backend)}: {exc}"
        ) from exc
