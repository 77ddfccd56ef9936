"""Errors of the lake: compaction, the curated layout and its manifests."""

from __future__ import annotations

from tickpipe.errors import TickpipeError


class LakeError(TickpipeError):
    """Base class for lake errors."""


class CorruptObjectError(LakeError):
    """A raw object that cannot be read at all (not gzip, truncated, not text); it is quarantined."""


class ManifestError(LakeError):
    """A manifest under state/ that is missing fields or points at files that do not exist."""


class QueryError(LakeError):
    """A SQL file or statement that cannot be run; the message names the file and the reason."""


class RecordError(TickpipeError, ValueError):
    """A raw line that is not a valid record of its table; the message says why."""


class CompactionBusyError(TickpipeError, RuntimeError):
    """Another compaction holds the lease; the message says who and until when."""
