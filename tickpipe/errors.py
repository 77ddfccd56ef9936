"""The root of tickpipe's own exceptions, and the configuration error every command reports as a usage error.

Each package's errors derive from :class:`TickpipeError` (its own ``errors.py``), so a caller can tell
"tickpipe refused this, with a message for a person" from a bug.
"""

from __future__ import annotations


class TickpipeError(Exception):
    """Base of every exception tickpipe raises on purpose; the message says what to change."""


class ConfigError(TickpipeError, ValueError):
    """A configuration value that is missing or malformed; the message names the variable."""


class AggregateError(TickpipeError, ValueError):
    """A Kinesis record that starts with the KPL magic but is not a valid aggregate (tickpipe.kpl)."""


class UniverseError(ConfigError):
    """The symbol universe cannot be loaded or sliced (bad source, empty list, bad slice)."""
