"""The one error hierarchy: every modelfleet error says what was wrong and what to do."""

from __future__ import annotations


class ModelfleetError(Exception):
    """Root of every error modelfleet raises on purpose."""


class ConfigError(ModelfleetError):
    """A setting is missing or invalid."""


class ModelLoadError(ModelfleetError):
    """The model plug-in could not be found or failed to load."""


class BrokerUnreachable(ModelfleetError):
    """The producer could not connect to the broker or the result backend."""


class ModelNotServed(ModelfleetError):
    """A task asked for a model this worker pool does not load: a routing mistake."""


class JobTimeout(ModelfleetError, TimeoutError):
    """Waiting for a job's results took longer than the timeout; the work goes on."""


class JobExpired(ModelfleetError):
    """The job's record expired with its results before they all arrived; waiting is useless."""


class UnknownJob(ModelfleetError):
    """No job with this ID: never created here, or expired with its results."""


class InvalidBatch(ModelfleetError):
    """A batch argument is not a list of IDs, is empty, or is larger than the limit."""


class ItemError(ModelfleetError):
    """An error about one input: it becomes that item's error and never fails its neighbours."""


class InvalidId(ItemError):
    """An ID that is not a JSON integer or a string of at most 256 characters."""


class UnknownInput(ItemError):
    """The input source has nothing under this ID."""


class InvalidInput(ItemError):
    """The input source has something under this ID, but the model cannot use it."""


class InferenceError(ItemError):
    """The model raised while predicting this input."""


class DeadLettered(ItemError):
    """The input was running each time its worker process died; it is not run again."""
