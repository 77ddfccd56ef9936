"""Errors of the lake: compaction, the curated layout and its manifests."""

from __future__ import annotations


class LakeError(Exception):
    """Base class for lake errors."""


class CorruptObjectError(LakeError):
    """A raw object that cannot be read at all (not gzip, truncated, not text); it is quarantined."""


class ManifestError(LakeError):
    """A manifest under state/ that is missing fields or points at files that do not exist."""


class QueryError(LakeError):
    """A SQL file or statement that cannot be run; the message names the file and the reason."""
