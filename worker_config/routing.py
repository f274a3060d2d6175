"""Per-model queues: the models a pool serves, the queues it consumes, the model a task gets.

``MODELFLEET_MODEL=digits,twin=mypkg.models:load`` makes a pool that loads both models in every
child and consumes ``<MODELFLEET_QUEUE>.digits`` and ``<MODELFLEET_QUEUE>.twin``. The plain
``MODELFLEET_QUEUE`` (the public contract's queue) belongs to the default model
(``MODELFLEET_DEFAULT_MODEL``, else the first name): only pools serving it consume it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker_config.errors import ConfigError, ModelNotServed
from worker_config.settings import Settings


def served_models(settings: Settings) -> dict[str, str]:
    """The pool's models in order, name -> plug-in target (a built-in name or module:factory)."""
    models: dict[str, str] = {}
    for part in settings.model.split(","):
        entry = part.strip()
        name, sep, target = entry.partition("=")
        name, target = name.strip(), (target.strip() if sep else name.strip())
        if not name or not target:
            raise ConfigError(
                f"MODELFLEET_MODEL: {settings.model!r} has an empty entry; use a comma-separated "
                "list of models: digits,twin=mypkg.models:load"
            )
        if name in models:
            raise ConfigError(f"MODELFLEET_MODEL: model {name!r} is named twice")
        models[name] = target
    return models


def default_model(settings: Settings) -> str:
    """The model that tasks on the plain queue get (and ``FleetExecutor()`` without a model)."""
    return settings.default_model or next(iter(served_models(settings)))


def primary_model(settings: Settings) -> str:
    """The model a child of this pool uses when nothing names one: the default, if served."""
    models = served_models(settings)
    default = default_model(settings)
    return default if default in models else next(iter(models))


def model_queue(settings: Settings, model: str | None) -> str:
    """The queue a task for ``model`` is sent to; no model means the plain contract queue."""
    return f"{settings.queue}.{model}" if model else settings.queue


def worker_queues(settings: Settings) -> list[str]:
    """The queues a pool consumes: one per served model, plus the plain one for the default."""
    models = served_models(settings)
    queues = [model_queue(settings, name) for name in models]
    if default_model(settings) in models:
        queues.insert(0, settings.queue)
    return queues


def model_for_task(
    settings: Settings, requested: str | None, delivery_info: Mapping[str, Any] | None
) -> str:
    """Which loaded model runs a task: its ``model`` kwarg, else its queue, else the default."""
    models = served_models(settings)
    if requested is None:
        routing_key = (delivery_info or {}).get("routing_key") or ""
        prefix = settings.queue + "."
        name = routing_key[len(prefix) :] if routing_key.startswith(prefix) else ""
        requested = name or default_model(settings)
    if requested not in models:
        raise ModelNotServed(
            f"this worker serves {', '.join(models)}, not {requested!r}; send the task to queue "
            f"{model_queue(settings, requested)!r}, and start a worker there with "
            f"MODELFLEET_MODEL={requested}"
        )
    return requested
