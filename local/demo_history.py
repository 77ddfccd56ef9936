"""The demo's history side: a producer outage on demand, and the reconciliation at the end.

``--outage 11:00-11:20``: at 11:00 exchange time the simulator cuts every data-socket connection
and refuses the token (as when Fyers invalidates it mid-day); at 11:20 it accepts logins again and
the token service stores a fresh token, which the producer picks up at its next SSM read (within a
second of wall time, a few exchange minutes at 400x). The producer records the interval as gap
records (state/gaps/), as it would for a real outage, and its bars for those minutes are missing.
After compaction the demo reconciles the day (consumers/history/reconcile.py, the scheduled function's
code): those buckets show up as ``missing_in_gap``, and ``bars_5m_final`` serves them from the
exchange's candles, so every symbol has all its bars again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from consumers.history.reconcile import ReconcileResult, reconcile_day
from consumers.lake.store import LakeStore
from fyers.history import HistoryClient
from fyers.rest import RestClient
from fyers.sim import Simulator
from fyers.token_store import TokenStore
from local.errors import OutageError
from market.session import Session, epoch, ist_datetime
from tickpipe.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outage:
    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> Outage:
        m = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", text or "")
        if not m:
            raise OutageError(f"--outage wants HH:MM-HH:MM in IST, e.g. 11:00-11:20; got {text!r}")
        try:
            start, end = (dt.time.fromisoformat(f"{t:0>5}") for t in m.groups())
        except ValueError:
            raise OutageError(f"--outage {text!r}: not a time of day") from None
        if end <= start:
            raise OutageError(f"--outage {text!r}: the end is not after the start")
        return cls(start, end)

    def check(self, session: Session) -> None:
        a, b = epoch(session.day, self.start), epoch(session.day, self.end)
        if not (session.open_ts < a and b < session.close_ts):
            raise OutageError(f"--outage {self}: must lie inside the session {session} (and not touch its ends)")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class OutageDriver:
    """Applies an outage to the simulator as its clock passes the outage's start and end."""

    def __init__(self, sim: Simulator, session: Session, outage: Outage | None,
                 on_end: Callable[[], Any] = lambda: None) -> None:
        self.sim = sim
        self.on_end = on_end
        self.outage = outage
        self.start = epoch(session.day, outage.start) if outage else None
        self.end = epoch(session.day, outage.end) if outage else None
        self.state = "before"

    def tick(self) -> None:
        """Call often (the demo's progress loop): starts and ends the outage on time."""
        if self.outage is None:
            return
        now = self.sim.clock.now()
        if self.state == "before" and now >= self.start:
            self.sim.faults.refuse_auth(True)
            self.sim.faults.drop_connections()
            self.state = "down"
            log.warning("outage: the producer's connection is cut at %s IST", f"{ist_datetime(now):%H:%M:%S}")
        elif self.state == "down" and now >= self.end:
            self.sim.faults.refuse_auth(False)
            self.on_end()
            self.state = "after"
            log.warning("outage over at %s IST", f"{ist_datetime(now):%H:%M:%S}")


def reconcile(settings: Settings, sim: Simulator, session: Session, symbols: list[str]) -> ReconcileResult:
    """The scheduled reconcile function's job for the demo's day, over the moto lake and the simulator."""
    history = HistoryClient(RestClient(settings.fyers_api_url), sim.config.app_id,
                            lambda: TokenStore(boto3.client("ssm", region_name=settings.region),
                                               settings.ssm_prefix).load_access_token())
    return reconcile_day(session.day, history, LakeStore(settings.bucket), symbols=symbols, clock=sim.clock.now)


def figures_and_checks(result: ReconcileResult, final_bars: dict[str, int], expected_bars: int, *,
                       every_trade: bool, outage: Outage | None) -> tuple[dict[str, Any], dict[str, bool]]:
    """What the demo reports of the reconciliation, and what it checks."""
    s = result.summary
    figures: dict[str, Any] = {
        "reconcile: bars vs exchange candles": (
            f"{s.matched:,} match, {s.differing:,} differ ({100 * s.mismatch_rate:.1f}% of {s.compared:,}), "
            f"{s.missing_bars} missing, {s.gap_bars} in gaps, {s.bars_without_candle} without a candle"),
        "reconcile: causes": s.causes or "none",
        "bars_5m_final": f"{sum(final_bars.values()):,} bars, "
                         f"{sum(1 for n in final_bars.values() if n == expected_bars)} symbols complete",
    }
    checks: dict[str, bool] = {
        "reconcile finds no bar lost without a gap record": s.missing_bars == 0,
        "reconcile explains every difference": "unexplained" not in s.causes,
    }
    if every_trade and outage is None:
        checks["reconcile: every live bar equals its exchange candle"] = s.differing == s.gap_bars == 0
    if outage is not None:
        checks[f"the outage {outage} left bars missing inside its gap record"] = s.gap_bars > 0
        if every_trade:  # every trade is seen: the only differences are the bars the gap cut short
            checks["reconcile: every other bar equals its candle"] = (
                s.differing == 0 or f"partial_in_gap={s.differing}" in s.causes.split(","))
        checks[f"bars_5m_final has all {expected_bars} bars of every symbol (the gap filled from candles)"] = (
            bool(final_bars) and all(n == expected_bars for n in final_bars.values()))
    return figures, checks
