"""Errors of the bars consumer."""

from __future__ import annotations

from tickpipe.errors import ConfigError, TickpipeError


class BarsError(TickpipeError):
    """Base of the bars consumer's errors."""


class TransientError(BarsError):
    """An AWS call (Firehose, S3) failed after retries; the batch is retried from ``index``.

    ``index`` is the position, in the list handed to the failing call, of the first item that did
    not land (items after it may have landed too; they are written again, idempotently).
    """

    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


class BarsConfigError(BarsError, ConfigError):
    """A TICKPIPE_BARS_* variable that is not a valid number; the message names it."""


class AccessDeniedError(BarsError):
    """The function's role may not read or write its checkpoint: a deployment error, not a passing
    one. It fails the invocation (the Errors alarm fires) instead of retrying the batch until the
    records expire; the message names the object and the permission to grant."""


class SafetyNetError(TickpipeError, RuntimeError):
    """The watermarks could not be written (the message says which shards and why)."""
