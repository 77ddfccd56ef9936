"""Named errors of the producer. Each message says what is wrong and what to do about it."""

from __future__ import annotations

from tickpipe.errors import ConfigError, TickpipeError


class ProducerError(TickpipeError):
    """Base class for producer errors."""


class ShardMapError(ProducerError):
    """The stream's shard map cannot be read (missing stream, no open shards)."""


class JournalError(ProducerError):
    """The on-disk journal cannot be opened or written (permissions, full disk)."""


class OptionsError(ProducerError, ConfigError):
    """A producer option (TICKPIPE_PRODUCER_* variable or CLI flag) is malformed."""


class TokenUnavailableError(ProducerError):
    """No usable token before the producer was stopped."""


class BadResponseError(TickpipeError):
    """A PutRecords response that does not answer the call (not one result per record)."""
