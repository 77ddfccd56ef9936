"""Errors of history: a backfill request, a candle table or a reconcile run that cannot go on."""

from __future__ import annotations

from tickpipe.errors import TickpipeError


class BackfillError(TickpipeError, ValueError):
    """A backfill request that cannot run (bad range, resolution or symbol list)."""


class CandleTableError(TickpipeError, ValueError):
    """A resolution no candle table holds, or a day object that is not a candle file."""


class NothingToReconcileError(TickpipeError, LookupError):
    """The day has no curated bars, no gap records and no symbols were asked for: nothing was written."""


class ReconcileIncompleteError(TickpipeError, RuntimeError):
    """The day's candles could not all be fetched in this run; running again continues."""
