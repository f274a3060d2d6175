"""Several machines for real: worker hosts on a private network share one Redis host.

Workers start with the compose file's command or the systemd unit's ExecStart line, each pinned
to one core; the producer runs on its own host. Figures are printed (``-s``) for the notes.
"""

from __future__ import annotations

import pytest

from tests.cluster.conftest import Fleet
from tests.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: IDs per job and IDs per task: 60 tasks of 0.2 s each with the paced model.
COUNT, BATCH = 240, 4


def test_work_spreads_over_two_hosts_and_two_hosts_beat_one(fleet: Fleet) -> None:
    first = fleet.start_worker("spread1", "compose", cpu=0)
    fleet.wait_ready(first)
    alone = fleet.produce(COUNT, BATCH)
    second = fleet.start_worker("spread2", "compose", cpu=1)
    fleet.wait_ready(second)
    before = fleet.served(first), fleet.served(second)
    both = fleet.produce(COUNT, BATCH)

    assert alone["ids"] == both["ids"] == list(range(COUNT))
    assert alone["errors"] == both["errors"] == []
    share = fleet.served(first) - before[0], fleet.served(second) - before[1]
    ratio = float(alone["elapsed"]) / float(both["elapsed"])  # type: ignore[arg-type]
    print(
        f"\nthroughput: one host {COUNT / float(alone['elapsed']):.1f} IDs/s, "  # type: ignore[arg-type]
        f"two hosts {COUNT / float(both['elapsed']):.1f} IDs/s, ratio {ratio:.2f}; "  # type: ignore[arg-type]
        f"tasks per host with two: {share}"
    )
    assert min(share) > 0, f"both hosts serve: {share}"
    assert ratio > 1.3, f"two hosts should be clearly faster than one: ratio {ratio:.2f}"


def test_a_host_that_joins_mid_run_takes_work(fleet: Fleet) -> None:
    first = fleet.start_worker("join1", "compose", cpu=0)
    fleet.wait_ready(first)
    job = fleet.cluster.producer.start(
        fleet.produce_command(COUNT, BATCH), fleet.env(), fleet.cluster.tmp / "join.out"
    )
    wait_until(lambda: fleet.served(first) >= 5, 60, "started")
    late = fleet.start_worker("join2", "systemd", cpu=1)
    assert job.wait(timeout=240) == 0
    result = _last_json(fleet, "join.out")

    assert result["ids"] == list(range(COUNT)) and result["errors"] == []
    print(f"\njoin: tasks served by the first host {fleet.served(first)}, by the late one "
          f"{fleet.served(late)}")  # fmt: skip
    assert fleet.served(late) > 0


@pytest.mark.parametrize("loss", ["link-down", "killed"])
def test_a_host_lost_mid_run_loses_no_id_and_duplicates_none(fleet: Fleet, loss: str) -> None:
    keep = fleet.start_worker(f"keep-{loss[:4]}", "systemd", cpu=0)
    lost = fleet.start_worker(f"lost-{loss[:4]}", "systemd", cpu=1)
    fleet.wait_ready(keep)
    fleet.wait_ready(lost)
    out = f"loss-{loss}.out"
    job = fleet.cluster.producer.start(
        fleet.produce_command(COUNT, BATCH), fleet.env(), fleet.cluster.tmp / out
    )
    wait_until(lambda: fleet.served(lost) >= 3, 60, "started on the host to lose")
    if loss == "link-down":
        lost.cut()
    else:
        lost.kill_all()
    assert job.wait(timeout=240) == 0
    result = _last_json(fleet, out)

    # Exactly one final result per ID, in order, none an error.
    assert result["ids"] == list(range(COUNT)) and result["errors"] == []
    log = fleet.log(lost).read_text(errors="replace")
    received = log.count("] received")
    print(f"\n{loss}: {COUNT} IDs sent, {len(result['ids'])} results, 0 lost; the lost host had "  # type: ignore[arg-type]
          f"received {received} tasks and finished {fleet.served(lost)}, the other "
          f"{fleet.served(keep)}, in {float(result['elapsed']):.1f}s")  # type: ignore[arg-type]  # fmt: skip
    lost.kill_all()


def _last_json(fleet: Fleet, name: str) -> dict[str, object]:
    import json

    lines = (fleet.cluster.tmp / name).read_text().splitlines()
    result: dict[str, object] = json.loads(lines[-1])
    return result
