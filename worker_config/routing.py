"""Per-model queues: the models a pool serves, the queues it consumes, the model a task gets.

``MODELFLEET_MODEL=digits,twin=mypkg.models:load`` makes a pool that loads both models in every
child and consumes ``<MODELFLEET_QUEUE>.digits`` and ``<MODELFLEET_QUEUE>.twin``. The plain
``MODELFLEET_QUEUE`` (the public contract's queue) belongs to the default model
(``MODELFLEET_DEFAULT_MODEL``, else the first name): only pools serving it consume it.

A model's name is the ``name=`` given in ``MODELFLEET_MODEL``; else a built-in's name; else the
``name`` a plug-in declares on its factory (``load.name = "centroids"``, or a factory class's
``name``); else the last part of its module path (``mypkg.centroids:load`` -> ``centroids``).
The parent needs the names before it forks, and never loads a model, so it reads the factory's
attribute instead of asking the loaded model.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from celery.utils.imports import cwd_in_path

from worker_config.errors import ConfigError, ModelNotServed
from worker_config.settings import Settings


def served_models(settings: Settings) -> dict[str, str]:
    """The pool's models in order, name -> plug-in target (a built-in name or module:factory)."""
    models: dict[str, str] = {}
    for part in settings.model.split(","):
        entry = part.strip()
        name, sep, target = entry.partition("=")
        name, target = name.strip(), (target.strip() if sep else name.strip())
        if not sep and target:
            name = plugin_name(target)
        if not name or not target:
            raise ConfigError(
                f"MODELFLEET_MODEL: {settings.model!r} has an empty entry; use a comma-separated "
                "list of models: digits,twin=mypkg.models:load"
            )
        if name in models:
            raise ConfigError(f"MODELFLEET_MODEL: model {name!r} is named twice")
        models[name] = target
    return models


#: What a model name may hold: it becomes part of a queue name and a command-line argument.
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@cache
def plugin_name(target: str) -> str:
    """The name of the model ``target`` (a built-in name or ``module:factory``) builds."""
    module_name, sep, attr = target.partition(":")
    if not sep:
        return target
    declared: object = None
    try:
        with cwd_in_path():  # like `celery -A`: the user's modules in the worker's directory
            obj: object = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        declared = getattr(obj, "name", None)
    except Exception:  # a plug-in missing here, or failing to import: the worker's start-up
        pass  # check (runtime/startup.py) reports it with exit 78; a producer needs only a name
    if isinstance(declared, str) and _NAME.fullmatch(declared):
        return declared
    return module_name.rsplit(".", 1)[-1]


def extra_queues(settings: Settings) -> list[str]:
    """``MODELFLEET_EXTRA_QUEUES``: more names for the plain queue (e.g. ``celery``)."""
    names = [q.strip() for q in settings.extra_queues.split(",") if q.strip()]
    for name in names:
        if name == settings.queue or name.startswith(settings.queue + "."):
            raise ConfigError(
                f"MODELFLEET_EXTRA_QUEUES: {name!r} is one of modelfleet's own queues; name "
                "another app's queue, such as celery"
            )
    return names


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
        queues[:0] = [settings.queue, *extra_queues(settings)]
    return queues


def queue_models(settings: Settings) -> dict[str, str]:
    """Each queue this pool consumes -> the model its tasks get (the ownership it claims)."""
    models = served_models(settings)
    owners = {model_queue(settings, name): name for name in models}
    default = default_model(settings)
    if default in models:
        for queue in [settings.queue, *extra_queues(settings)]:
            owners[queue] = default
    return {queue: owners[queue] for queue in worker_queues(settings)}


def model_for_task(
    settings: Settings, requested: str | None, delivery_info: Mapping[str, Any] | None
) -> str:
    """Which loaded model runs a task: its ``model`` kwarg, else its queue, else the default."""
    models = served_models(settings)
    if requested is None:
        routing_key = (delivery_info or {}).get("routing_key") or ""
        prefix = settings.queue + "."
        name = routing_key[len(prefix) :] if routing_key.startswith(prefix) else ""
        # An extra queue (MODELFLEET_EXTRA_QUEUES) is the plain queue under another name.
        requested = name or default_model(settings)
    if requested not in models:
        raise ModelNotServed(
            f"this worker serves {', '.join(models)}, not {requested!r}; send the task to queue "
            f"{model_queue(settings, requested)!r}, and start a worker there with "
            f"MODELFLEET_MODEL={requested}"
        )
    return requested
