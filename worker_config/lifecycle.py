"""The worker's lifecycle in one place: which handler runs on which Celery signal, in which order,
and which periodic steps the worker parent runs.

Nothing else connects a signal: the handlers are plain functions in their modules, so importing a
module (``modelfleet probe`` imports the probe files' reader) never wires a worker hook, and the
order below is the order Celery calls them in (receivers run in the order they were connected),
not whatever order an import sorter leaves the imports in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery, bootsteps
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from celery.utils.dispatch import Signal

from worker_config import flower
from worker_config.celery_ext import control, event_batch, result_repr, result_store, transport
from worker_config.celery_ext.follower_rescue import FollowerRescue
from worker_config.celery_ext.lease import LeaseRenewal
from worker_config.celery_ext.queue_claims import QueueClaimRenewal
from worker_config.celery_ext.steps import LoadFailureWatch, ProbeHeartbeat
from worker_config.observe import metrics, probes, task_log
from worker_config.runtime import queue_claims, startup, state

Handler = Callable[..., Any]


def begin(sender: Any = None, **_: Any) -> None:
    """``worker_init``: this worker's state, made before the fork so the children inherit it."""
    state.start(getattr(sender, "hostname", None) or state.DEFAULT_HOSTNAME)


#: Each signal's handlers, in the order they run.
HANDLERS: tuple[tuple[Signal, tuple[Handler, ...]], ...] = (
    # Logging is set up before anything else logs.
    (after_setup_logger, (task_log.use_json,)),
    (after_setup_task_logger, (task_log.use_json,)),
    # The parent, before the fork: fail fast on bad settings, then prepare what children share.
    (
        worker_init,
        (
            startup.check_config,  # exit EX_CONFIG before any state is made or child started
            begin,  # the worker's state: hostname, reload board, load-failure byte
            queue_claims.claim_queues,  # one model per queue: exit EX_CONFIG if taken by another
            startup.limit_threads,  # BLAS/OpenMP threads, read by libraries the children load
            startup.reset_registry,  # forget the previous run's children in `modelfleet status`
            metrics.prepare,  # the multiprocess directory every child writes samples to
            probes.start_fresh,  # alive from now on; ready once every child has loaded
            startup.share_imports,  # last: heavy modules imported and frozen, shared by children
        ),
    ),
    # Each pool child: load, then tell the world; marked ready last, once all of it is done.
    (
        worker_process_init,
        (
            startup.load_models,  # on failure: flag the parent and exit EX_MODEL_LOAD
            startup.register_child,  # its models in the worker registry
            startup.watch_reloads,  # follow reload requests from now on
            task_log.record_load,  # the load time, as a metric
            probes.mark_child_loaded,  # ready
        ),
    ),
    # The parent, children forked: serve metrics (no child inherits the server's thread).
    (worker_ready, (metrics.serve,)),
    (task_prerun, (task_log.task_started,)),
    (task_postrun, (task_log.task_finished,)),
    (worker_process_shutdown, (metrics.child_exits,)),
    (worker_shutdown, (metrics.clean_up, probes.remove_state)),
)

#: The parent's periodic work, started with the worker and cancelled when it stops.
STEPS: tuple[type[bootsteps.StartStopStep], ...] = (
    FollowerRescue,
    LoadFailureWatch,
    LeaseRenewal,
    ProbeHeartbeat,
    QueueClaimRenewal,
)


def connect(app: Celery) -> None:
    """Wire the handlers, the worker steps, the remote-control commands and the result backend
    (one round trip per store, requeued when it cannot store: celery_ext/result_store.py);
    idempotent."""
    for signal, handlers in HANDLERS:
        for handler in handlers:
            # The ID makes a second connect() a no-op; it need only be unique per signal.
            uid = f"modelfleet:{handler.__module__}.{handler.__qualname__}"
            signal.connect(handler, weak=False, dispatch_uid=uid)
    app.steps["worker"].update(STEPS)
    # Task events leave the parent in batches, not one PUBLISH per tick (event_batch.py).
    app.steps["consumer"].add(event_batch.BatchedEventFlush)
    # Results a child cannot store send their task back to the queue (result_store.py); set
    # before anything touches ``app.backend``, which Celery makes on first use.
    app.loader.override_backends = {**app.loader.override_backends, **result_store.BACKENDS}
    control.register()
    # The result's repr for the log line and Flower, without walking a long result (result_repr.py).
    result_repr.install()
    # redis://, rediss:// and sentinel:// use the hardened transports; URLs keep their scheme.
    transport.register()
    # `celery -A tasks flower` from any directory: the auth and address rules (flower.py).
    flower.watch_options()
