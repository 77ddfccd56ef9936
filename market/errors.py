"""Errors of the domain core: a tick, a watermark, a carried bar state or a calendar entry that is not valid."""

from __future__ import annotations

from tickpipe.errors import TickpipeError


class TickError(TickpipeError, ValueError):
    """A record that is not a valid tick. The message says which field and why."""


class WatermarkError(TickpipeError, ValueError):
    """A record that says it is a watermark but is not a valid one."""


class CalendarError(TickpipeError, ValueError):
    """A calendar override or date that cannot be understood."""


class BarStateError(TickpipeError, ValueError):
    """A carried bar state that this version cannot read (wrong version or shape)."""
