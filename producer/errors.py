"""Named errors of the producer. Each message says what is wrong and what to do about it."""

from __future__ import annotations

from tickpipe.errors import ConfigError
from tickpipe.universe import UniverseError  # noqa: F401 - re-export: it lives with its reader, shared with reconcile


class ProducerError(Exception):
    """Base class for producer errors."""


class ShardMapError(ProducerError):
    """The stream's shard map cannot be read (missing stream, no open shards)."""


class JournalError(ProducerError):
    """The on-disk journal cannot be opened or written (permissions, full disk)."""


class OptionsError(ProducerError, ConfigError):
    """A producer option (TICKPIPE_PRODUCER_* variable or CLI flag) is malformed."""


class TokenUnavailableError(ProducerError):
    """No usable token before the producer was stopped."""
