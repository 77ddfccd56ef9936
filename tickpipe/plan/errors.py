"""Errors of ``tickpipe plan``: a universe that cannot be planned, a figures file or a region it cannot use."""

from __future__ import annotations

from tickpipe.errors import TickpipeError


class PlanError(TickpipeError, ValueError):
    """The universe asked for cannot be planned (a count out of range); the message says which."""


class FiguresError(TickpipeError, ValueError):
    """The figures file is missing, unreadable or lacks a figure; re-run ``make bench``."""


class UnknownRegionError(TickpipeError, ValueError):
    """The price table has no prices for this region."""
