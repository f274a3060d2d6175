"""Model and input-source plug-ins: the protocols they follow and how names resolve to them."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from celery.utils.imports import cwd_in_path

from worker_config.errors import ItemError, ModelLoadError

if TYPE_CHECKING:
    from worker_config.contract import InputId
    from worker_config.settings import Settings


@runtime_checkable
class Model(Protocol):
    """A loaded model: turns raw inputs into model inputs, and predicts on a batch at once."""

    name: str
    version: str

    def prepare(self, raw: Any) -> Any:
        """Check and convert one raw input; raise :class:`InvalidInput` if it cannot be used."""

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        """One vectorised call over prepared inputs; one JSON-ready dict per input, in order."""


@runtime_checkable
class InputSource(Protocol):
    """Resolves IDs to raw inputs inside the worker, so producers send only IDs."""

    def fetch(self, ids: Sequence[InputId]) -> list[Any | ItemError]:
        """One raw input per ID, in order, or the :class:`ItemError` that ID gets."""


ModelFactory = Callable[["Settings"], Model]
SourceFactory = Callable[["Settings"], InputSource]

#: Built-in models by name.
BUILTIN_MODELS = {
    "digits": "worker_config.plugins.models.digits:load",
    "forest": "worker_config.plugins.models.forest:load",
    "mlp": "worker_config.plugins.models.mlp:load",
    "dense": "worker_config.plugins.models.dense:load",
    "minilm": "worker_config.plugins.models.minilm:load",
}
#: Built-in input sources by name.
BUILTIN_SOURCES = {
    "digits": "worker_config.plugins.sources.digits:DigitsSource",
    "redis": "worker_config.plugins.sources.redis:RedisSource",
}


def resolve_model(name: str) -> ModelFactory:
    """The factory for ``MODELFLEET_MODEL``; importing it never loads the model."""
    factory: ModelFactory = _resolve(name, BUILTIN_MODELS, "model", "MODELFLEET_MODEL")
    return factory


def resolve_source(name: str) -> SourceFactory:
    """The factory for ``MODELFLEET_SOURCE``."""
    factory: SourceFactory = _resolve(name, BUILTIN_SOURCES, "input source", "MODELFLEET_SOURCE")
    return factory


def _resolve(name: str, builtins: dict[str, str], kind: str, env: str) -> Any:
    target = builtins.get(name, name)
    module_name, sep, attr = target.partition(":")
    known = ", ".join(sorted(builtins))
    if not sep or not module_name or not attr:
        raise ModelLoadError(
            f"{kind} {name!r} not found; known: {known}, or 'package.module:factory'; set {env}"
        )
    try:
        # Like `celery -A`, find the user's modules in the directory the worker starts in.
        with cwd_in_path():
            obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"{kind} {name!r}: cannot import {module_name!r} ({exc}); set {env}"
        ) from exc
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ModelLoadError(f"{kind} {name!r}: {module_name!r} has no {attr!r}; set {env}")
    if not callable(obj):
        raise ModelLoadError(f"{kind} {name!r}: {target!r} is not callable; set {env}")
    return obj
