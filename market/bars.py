"""Five-minute bars from ticks, in event time (IST exchange time). Pure: ticks in, bar records out.

Facts this follows (DESIGN.md "Domain facts"):

- A tick's event time is its last traded time ``ltt`` (``ts`` when a record has none, e.g. an index
  without it). Buckets are epoch multiples of 300 s, which are the IST 09:15, 09:20, … buckets.
  Pre-open ticks of NSE/BSE symbols belong to the session's first bucket (the auction volume is
  part of the 09:15 bar).
- Volume is the change of the cumulative ``vol``: the largest ``vol`` in the bucket minus the
  largest ``vol`` of the symbol's previous bucket that day (0 for the day's first bucket).
  ``vol`` only grows, so "largest" is "last", whatever order ticks arrive in.
- VWAP is the bucket's turnover over its volume. The turnover is estimated from the ticks: each
  tick that raises its bucket's cumulative volume adds (its ``vol`` − the previous largest) × its
  ``ltp`` (``T_B``; exact when every trade is a tick). The exchange's ``atp`` is rounded to the paisa,
  so the true turnover lies within ``T_A ± 0.005 × (vol_end + vol_start)`` with
  ``T_A = atp_end × vol_end − atp_start × vol_start``: ``T_B`` is clamped into that interval, and the
  VWAP into the bar's [low, high] (docs/bars.md has the proof and the measured error).
- When the day high ``dh`` rises (or the day low ``dl`` falls) between two ticks, a trade at that
  price happened that the snapshots did not show: the bar of the later tick reaches it.
- A bar is final and emitted with ``rev`` 0 when its symbol's watermark reaches bucket end + grace.
  The symbol's watermark is the largest ``ts`` of its non-duplicate ticks, raised by its producer's
  watermark records (:meth:`BarBuilder.watermark`, market.watermark): the producer has sent every
  tick up to that feed time, so an idle symbol's bar and the day's last bar close on time. Without
  watermarks, the shard's latest ``ts`` passing the session close + grace closes the last buckets. A later tick of that bucket amends it: ``rev`` goes up by one for
  each tick folded in after the first emission (and for each change to a bar's volume caused by a
  late tick in the bar before it), so the same ticks always give the same ``rev`` and a higher
  ``rev`` always holds more: "highest rev per (sym, start)" is the complete bar, however retries
  split the stream into batches.
- Duplicates (same ``market.tick.state_key``) change nothing. A tick newer than every tick seen is
  new; an older one is a duplicate when its key is among the symbol's last ``dedup_keys`` keys.

Per-symbol state is bounded: the open bar(s), the last ``amend_bars`` emitted bars (so late ticks can
amend them), the dedup ring and a few scalars. A tick for a bucket older than that cannot be
folded in; it is handed back in :attr:`BarBuilder.too_late` so the caller can keep it (quarantine),
never dropped silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from market.errors import BarStateError, TickError
from market.session import BAR_SECONDS, DAY, Session, normal_session, parse_overrides
from market.tick import SCHEMA_VERSION, validate
from market.watermark import ANY

# Bar record fields, in DESIGN.md order ("Bar record"). One place; writers and readers import it.
BAR_FIELDS: Final[tuple[str, ...]] = (
    "sym", "start", "o", "h", "l", "c", "vol", "vwap", "n", "vol_cum", "first_ts", "last_ts", "oi",
    "rev", "v",
)
# Types of the bar record's fields (the curated schema and compaction's checks read them).
BAR_INT_FIELDS: Final = frozenset({"start", "vol", "n", "vol_cum", "first_ts", "last_ts", "oi", "rev", "v"})
BAR_PRICE_FIELDS: Final = frozenset({"o", "h", "l", "c", "vwap"})
BAR_REQUIRED: Final = ("sym", "start", "o", "h", "l", "c")
BAR_SCHEMA_VERSION: Final = 1
IST_OFFSET: Final = 19_800  # seconds; IST is UTC+05:30 with no DST
STATE_VERSION: Final = 2  # 2: bars carry the tick turnover (B_UCUM, B_PU), symbols their producer
# atp is published rounded to the paisa: the true cumulative turnover is within this × vol of atp × vol
ATP_HALF_STEP: Final = 0.005
# Symbols whose pre-open ticks fold into the session's first bucket (the NSE/BSE cash session).
PREOPEN_EXCHANGES: Final = ("NSE:", "BSE:")
PREOPEN_SECONDS: Final = 15 * 60

# Open/emitted bar as a list (compact to carry, cheap to update). Field positions:
(B_START, B_O, B_H, B_L, B_C, B_VCUM, B_TCUM, B_N, B_FTS, B_LTS, B_OI, B_REV, B_PV, B_PT,
 B_OT, B_OV, B_CT, B_CV, B_EMIT, B_UCUM, B_PU) = range(21)
# B_VCUM/B_PV: cumulative volume at the bucket's last tick / at the previous bucket's last tick
#   (-1 when the instrument has no volume). B_TCUM/B_PT: the same for atp × vol (None without atp).
# B_UCUM/B_PU: the same for the turnover estimated from the ticks (Σ Δvol × ltp).
# B_OT/B_OV, B_CT/B_CV: order key (event time, vol) of the ticks that set open and close.
# B_EMIT: 0 open, 1 emitted, 2 emitted and amended since (to be emitted again).
OPEN, EMITTED, AMENDED = 0, 1, 2

# Per-symbol state as a list. Positions:
S_DAY, S_LV, S_LT, S_DH, S_DL, S_WM, S_DUE, S_RING, S_BARS, S_PID = range(10)
# S_PID: the producer id of the symbol's latest tick that opened or amended a bar (None if unknown)
NEVER: Final = 1 << 62


_NUM: Final = (int, float)
_NUM_OR_NONE: Final = (int, float, type(None))


def _why_bad(t: Any) -> str:
    """The reason a tick cannot be folded in: market.tick's own message when it has one."""
    try:
        validate(t)
    except TickError as exc:
        return str(exc)
    return "a field the bar builder reads has the wrong type or value"


@dataclass(frozen=True)
class BarConfig:
    """Knobs of the bar builder. ``overrides`` as in :func:`market.session.parse_overrides`."""

    grace_s: int = 2
    amend_bars: int = 2
    dedup_keys: int = 4
    overrides: dict[dt.date, Session | None] = field(default_factory=dict)

    @classmethod
    def from_text(cls, grace_s: int = 2, amend_bars: int = 2, dedup_keys: int = 4,
                  overrides: str = "") -> BarConfig:
        if grace_s < 0 or amend_bars < 1 or dedup_keys < 1:
            raise ValueError(
                f"bar config out of range: grace_s={grace_s} (>= 0), amend_bars={amend_bars} (>= 1), "
                f"dedup_keys={dedup_keys} (>= 1)")
        return cls(grace_s, amend_bars, dedup_keys, parse_overrides(overrides))


def ist_day(ts: int) -> int:
    """Days since the epoch of the IST date holding ``ts``."""
    return (ts + IST_OFFSET) // DAY


def bar_vwap(bar: list) -> float | None:
    """The bar's VWAP: the tick turnover clamped into the interval the rounded ``atp`` allows, over
    the bar's volume, within [low, high]. None when nothing traded in the bucket."""
    pv = bar[B_PV]
    vcum = bar[B_VCUM]
    vol = vcum - pv
    if vol <= 0:
        return None
    turnover = bar[B_UCUM] - bar[B_PU]
    t_end, t_start = bar[B_TCUM], bar[B_PT]
    if t_end is not None and t_start is not None:  # both ends carried an atp
        t_a = t_end - t_start
        tol = ATP_HALF_STEP * (vcum + pv)
        if turnover < t_a - tol:
            turnover = t_a - tol
        elif turnover > t_a + tol:
            turnover = t_a + tol
    vwap = turnover / vol
    if vwap < bar[B_L]:
        return bar[B_L]
    if vwap > bar[B_H]:
        return bar[B_H]
    return vwap


def bar_record(sym: str, bar: list) -> dict[str, Any]:
    """The bar record (DESIGN.md) of one internal bar."""
    vcum = bar[B_VCUM]
    if bar[B_CV] < 0:  # an instrument without volume (an index)
        vol, vwap, vol_cum = 0, None, None
    else:
        vol = vcum - bar[B_PV]
        vwap = bar_vwap(bar)
        vol_cum = vcum
    return {
        "sym": sym, "start": bar[B_START], "o": bar[B_O], "h": bar[B_H], "l": bar[B_L], "c": bar[B_C],
        "vol": vol, "vwap": vwap, "n": bar[B_N], "vol_cum": vol_cum, "first_ts": bar[B_FTS],
        "last_ts": bar[B_LTS], "oi": bar[B_OI], "rev": bar[B_REV], "v": BAR_SCHEMA_VERSION,
    }


class BarBuilder:
    """Folds ticks (already validated dicts) into bars; emitted bar records collect in :attr:`out`.

    Not thread-safe; one builder per shard. ``to_state()`` / ``from_state()`` carry it between
    Lambda invocations. Counters: ``ticks``, ``duplicates``, ``late``, ``amended``, ``emitted``.
    """

    def __init__(self, config: BarConfig | None = None) -> None:
        self.config = config or BarConfig()
        self.syms: dict[str, list] = {}
        self.wm = 0  # shard watermark: largest ts seen on the shard
        self.close_due = NEVER  # shard watermark at which open bars of an ended session close
        self.out: list[dict[str, Any]] = []
        self.too_late: list[tuple[dict[str, Any], str]] = []
        self.ticks = self.duplicates = self.late = self.amended = self.emitted = self.watermarks = 0
        self.net_closed = 0  # bars closed by ANY watermarks (the safety net had work to do)
        self._amended: list[tuple[str, list]] = []
        self._sessions: dict[int, tuple[int, int]] = {}
        self._day = -1
        self._lo = self._hi = 0  # session buckets of self._day: [first bucket, end of the IST day)
        self._ring_max = self.config.dedup_keys

    # ----- sessions -------------------------------------------------------------------------
    def session_bounds(self, day: int) -> tuple[int, int]:
        """(open_ts, close_ts) of the IST day ``day``, override-aware (no holiday lookup: a day with
        ticks traded)."""
        got = self._sessions.get(day)
        if got is None:
            date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
            s = self.config.overrides.get(date) or normal_session(date)
            got = self._sessions[day] = (s.open_ts, s.close_ts)
        return got

    # ----- the hot path ---------------------------------------------------------------------
    def add_many(self, ticks: Iterable[dict[str, Any]]) -> None:
        add = self.add
        for t in ticks:
            add(t)

    def add(self, t: dict[str, Any]) -> None:
        """Fold one tick (a dict per market.tick) in. Raises TickError, changing nothing, when a
        field the bars read is missing or of the wrong type (market.tick.validate checks them all)."""
        try:
            sym = t["sym"]
            ts = t["ts"]
            ltp = t["ltp"]
            et = t.get("ltt")
        except (KeyError, TypeError, AttributeError, IndexError):
            raise TickError(_why_bad(t)) from None
        vol = t.get("vol")
        atp = t.get("atp")
        dh = t.get("dh")
        dl = t.get("dl")
        oi = t.get("oi")
        if (type(sym) is not str or type(ts) is not int or (et is not None and type(et) is not int)
                or type(ltp) not in _NUM or (vol is not None and type(vol) is not int)
                or type(atp) not in _NUM_OR_NONE or type(dh) not in _NUM_OR_NONE
                or type(dl) not in _NUM_OR_NONE or (oi is not None and type(oi) is not int)):
            raise TickError(_why_bad(t))
        self.add_fields(sym, ts, et, ltp, vol, atp, dh, dl, oi, t.get("v", SCHEMA_VERSION), t)

    def add_fields(self, sym: str, ts: int, et: int | None, ltp: float, vol: int | None, atp: float | None,
                   dh: float | None, dl: float | None, oi: int | None, v: int, t: Any) -> None:
        """Fold one tick in, given the fields the bars read, already of the right types (``ltt`` as
        ``et``; ``t`` is the tick itself, handed back in :attr:`too_late` if it comes too late).
        Checks the values (ts, vol, schema version, a new symbol's name) and raises TickError."""
        if ts < 0:
            raise TickError(f"field 'ts' must be epoch seconds, got {ts!r}")
        if v != SCHEMA_VERSION:
            raise TickError(f"unsupported schema version {v!r} (this reader knows {SCHEMA_VERSION})")
        if et is None:
            et = ts
        if vol is None:
            kv = -1
        elif vol >= 0:
            kv = vol
        else:
            raise TickError(f"field 'vol' must not be negative, got {vol!r}")
        b = et - et % BAR_SECONDS
        s = self.syms.get(sym)
        if self._lo <= b < self._hi:  # the usual: a bucket of the session day seen last
            day = self._day
            # Fast path, nearly every tick: newer than every tick of its symbol (no duplicate lookup),
            # same day, for the symbol's latest bar, open and already holding ticks (no new bar, no
            # cascade, no amendment). The general path's steps for that case, with the list positions
            # written as numbers (named in the comments; checked by tests/bars/test_bar_math.py):
            # constants are cheaper than module globals in the loop that folds every tick.
            if s is not None and s[0] == day:  # S_DAY
                lv = s[1]  # S_LV
                if kv > lv or (kv == lv and et > s[2]):  # S_LT
                    bars = s[8]  # S_BARS
                    bar = bars[-1] if bars else None
                    if bar is not None and bar[0] == b and bar[7] and not bar[18]:  # B_START, B_N, B_EMIT
                        self.ticks += 1
                        if ts > self.wm:
                            self.wm = ts
                        s[1] = kv  # S_LV
                        s[2] = et  # S_LT
                        ring = s[7]  # S_RING
                        ring.append((et, kv, ltp))
                        if len(ring) > self._ring_max:
                            del ring[0]
                        if ltp > bar[2]:  # B_H
                            bar[2] = ltp
                        elif ltp < bar[3]:  # B_L
                            bar[3] = ltp
                        ct = bar[16]  # B_CT
                        if et > ct or (et == ct and kv >= bar[17]):  # B_CV
                            bar[4] = ltp  # B_C
                            bar[16] = et  # B_CT
                            bar[17] = kv  # B_CV
                            if oi is not None:
                                bar[10] = oi  # B_OI
                        elif et < bar[14] or (et == bar[14] and kv < bar[15]):  # B_OT, B_OV
                            bar[1] = ltp  # B_O
                            bar[14] = et  # B_OT
                            bar[15] = kv  # B_OV
                        if ts < bar[8]:  # B_FTS
                            bar[8] = ts
                        elif ts > bar[9]:  # B_LTS
                            bar[9] = ts
                        bar[7] += 1  # B_N
                        if dh is not None and (s[3] is None or dh > s[3]):  # S_DH
                            if dh > bar[2]:  # B_H
                                bar[2] = dh
                            s[3] = dh
                        if dl is not None and (s[4] is None or dl < s[4]):  # S_DL
                            if dl < bar[3]:  # B_L
                                bar[3] = dl
                            s[4] = dl
                        vcum = bar[5]  # B_VCUM
                        if kv > vcum:
                            bar[19] += (kv - vcum) * ltp  # B_UCUM: the volume since, traded at ltp
                            bar[5] = kv
                            bar[6] = atp * kv if atp is not None else None  # B_TCUM
                        w = s[5]  # S_WM
                        if ts > w:
                            s[5] = w = ts
                        if w >= s[6]:  # S_DUE
                            self._advance(sym, s, w)
                        elif self.wm >= self.close_due:
                            self.close_ended_sessions()
                        return
        else:
            b, day = self._bucket(sym, et, b)
        if s is None:
            if ":" not in sym:
                raise TickError(f"field 'sym' must look like 'EXCHANGE:NAME', got {sym!r}")
            s = self.syms[sym] = [day, -2, 0, None, None, 0, NEVER, [], [], None]
        elif day > s[S_DAY]:
            self._new_day(sym, s, day)
        # whose watermarks close this symbol's bars: read here, off the fast path (once a bar or so)
        pid = t.get("pid") if type(t) is dict else getattr(t, "pid", None)
        if type(pid) is str:
            s[S_PID] = pid
        self.ticks += 1
        if ts > self.wm:
            self.wm = ts
        # duplicates: newer than everything seen is new; otherwise look the key up
        key = (et, kv, ltp)
        ring = s[S_RING]
        if day == s[S_DAY] and (kv > s[S_LV] or (kv == s[S_LV] and et > s[S_LT])):
            s[S_LV] = kv
            s[S_LT] = et
        elif key in ring:
            # a duplicate changes nothing, not even the symbol's watermark (else it could turn a
            # later tick of the bucket into an amendment); the shard's watermark, which only closes
            # sessions, does move
            self.duplicates += 1
            if self.wm >= self.close_due:
                self.close_ended_sessions()
            return
        ring.append(key)
        if len(ring) > self._ring_max:
            del ring[0]

        bars = s[S_BARS]
        if bars and bars[-1][B_START] == b:
            bar = bars[-1]
        else:
            bar = self._find_or_insert(sym, s, b, (b + IST_OFFSET) // DAY, t)
            if bar is None:
                if ts > s[S_WM]:
                    self._advance(sym, s, ts)
                return
        # fold the tick into the bar
        if bar[B_N] == 0:
            bar[B_O] = bar[B_H] = bar[B_L] = bar[B_C] = ltp
            bar[B_OT] = bar[B_CT] = et
            bar[B_OV] = bar[B_CV] = kv
            bar[B_FTS] = bar[B_LTS] = ts
            if oi is not None:
                bar[B_OI] = oi
        else:
            if ltp > bar[B_H]:
                bar[B_H] = ltp
            elif ltp < bar[B_L]:
                bar[B_L] = ltp
            ct = bar[B_CT]
            if et > ct or (et == ct and kv >= bar[B_CV]):
                bar[B_C] = ltp
                bar[B_CT] = et
                bar[B_CV] = kv
                if oi is not None:
                    bar[B_OI] = oi
            elif et < bar[B_OT] or (et == bar[B_OT] and kv < bar[B_OV]):
                bar[B_O] = ltp
                bar[B_OT] = et
                bar[B_OV] = kv
            if ts < bar[B_FTS]:
                bar[B_FTS] = ts
            elif ts > bar[B_LTS]:
                bar[B_LTS] = ts
        bar[B_N] += 1
        if dh is not None and (s[S_DH] is None or dh > s[S_DH]):
            if dh > bar[B_H]:
                bar[B_H] = dh
            s[S_DH] = dh
        if dl is not None and (s[S_DL] is None or dl < s[S_DL]):
            if dl < bar[B_L]:
                bar[B_L] = dl
            s[S_DL] = dl
        if kv > bar[B_VCUM]:
            bar[B_UCUM] += (kv - bar[B_VCUM]) * ltp
            bar[B_VCUM] = kv
            bar[B_TCUM] = atp * kv if atp is not None else None
            if bar is not bars[-1]:
                self._cascade(sym, bars, bar)
        if bar[B_EMIT]:
            self.late += 1
            self._amend(sym, bar)
        w = s[S_WM]
        if ts > w:
            s[S_WM] = w = ts
        if w >= s[S_DUE]:
            self._advance(sym, s, w)
        elif self.wm >= self.close_due:
            self.close_ended_sessions()

    def _bucket(self, sym: str, et: int, b: int) -> tuple[int, int]:
        """(bucket, IST day) of a tick outside the last seen day's session buckets: another day,
        or before the open (pre-open ticks of NSE/BSE symbols belong to the first bucket)."""
        day = (b + IST_OFFSET) // DAY
        open_ts = self.session_bounds(day)[0]
        first = open_ts - open_ts % BAR_SECONDS
        if day != self._day:
            self._day = day
            self._lo, self._hi = first, (day + 1) * DAY - IST_OFFSET
        if b < first and et >= open_ts - PREOPEN_SECONDS and sym.startswith(PREOPEN_EXCHANGES):
            b = first
        return b, day

    # ----- the rare paths -------------------------------------------------------------------
    def _new_day(self, sym: str, s: list, day: int) -> None:
        """First tick of a new IST day for ``sym``: yesterday's open bars are final, cumulative
        volume and the day high/low start again."""
        for bar in s[S_BARS]:
            if bar[B_EMIT] == OPEN:
                self._emit(sym, bar)
        s[S_DAY] = day
        s[S_LV], s[S_LT] = -2, 0
        s[S_DH] = s[S_DL] = None
        s[S_RING] = []
        s[S_DUE] = NEVER
        self._trim(s)

    def _find_or_insert(self, sym: str, s: list, b: int, day: int, t: dict[str, Any]) -> list | None:
        bars = s[S_BARS]
        if not bars or b > bars[-1][B_START]:
            pos = len(bars)
        else:
            pos = 0
            while pos < len(bars) and bars[pos][B_START] < b:
                pos += 1
            if pos < len(bars) and bars[pos][B_START] == b:
                return bars[pos]
            if pos == 0:
                self.too_late.append((t, f"late tick for bucket {b} older than the last "
                                         f"{self.config.amend_bars} bars kept for {sym}; not folded in"))
                self.late += 1
                return None
        prev = bars[pos - 1] if pos else None
        if prev is not None and (prev[B_START] + IST_OFFSET) // DAY == day:
            pv, pt, pu = prev[B_VCUM], prev[B_TCUM], prev[B_UCUM]
        else:
            pv, pt, pu = 0, 0.0, 0.0
        # no tick yet: the bucket's cumulative volume is the previous bucket's
        bar = [b, None, None, None, None, pv, pt, 0, 0, 0, None, 0, pv, pt, 0, 0, 0, 0, OPEN, pu, pu]
        bars.insert(pos, bar)
        due = b + BAR_SECONDS + self.config.grace_s
        if due <= s[S_WM]:
            self.late += 1  # a bucket that had no ticks until after it was due
        if due < s[S_DUE]:
            s[S_DUE] = due
        close = self.session_bounds(day)[1]
        if b < close and close + self.config.grace_s < self.close_due:
            self.close_due = close + self.config.grace_s
        return bar

    def _cascade(self, sym: str, bars: list, bar: list) -> None:
        """A late tick raised a bar's cumulative volume: the next bar's volume is now smaller."""
        i = bars.index(bar) + 1
        nxt = bars[i]
        if (nxt[B_START] + IST_OFFSET) // DAY != (bar[B_START] + IST_OFFSET) // DAY:
            return
        nxt[B_PV] = bar[B_VCUM]
        nxt[B_PT] = bar[B_TCUM]
        nxt[B_PU] = bar[B_UCUM]
        if nxt[B_N] == 0 or nxt[B_VCUM] < bar[B_VCUM]:
            nxt[B_VCUM], nxt[B_TCUM], nxt[B_UCUM] = bar[B_VCUM], bar[B_TCUM], bar[B_UCUM]
        if nxt[B_EMIT]:
            self._amend(sym, nxt)

    def _amend(self, sym: str, bar: list) -> None:
        bar[B_REV] += 1
        self.amended += 1
        if bar[B_EMIT] == EMITTED:
            bar[B_EMIT] = AMENDED
            self._amended.append((sym, bar))

    def _emit(self, sym: str, bar: list) -> None:
        bar[B_EMIT] = EMITTED
        if bar[B_N]:
            self.out.append(bar_record(sym, bar))
            self.emitted += 1

    def _advance(self, sym: str, s: list, ts: int) -> None:
        """The symbol's watermark moved to ``ts``: emit every bar now due."""
        if ts > s[S_WM]:
            s[S_WM] = ts
        if ts >= s[S_DUE]:
            grace = self.config.grace_s
            due = NEVER
            for bar in s[S_BARS]:
                if bar[B_EMIT] == OPEN:
                    d = bar[B_START] + BAR_SECONDS + grace
                    if d <= ts:
                        self._emit(sym, bar)
                    elif d < due:
                        due = d
            s[S_DUE] = due
            self._trim(s)
        if self.wm >= self.close_due:
            self.close_ended_sessions()

    def advance(self, sym: str) -> None:
        """Emit the bars of ``sym`` that its watermark has made due (the native fold,
        market/bars_fold.py, moves the watermark and stops behind the tick; this finishes the job)."""
        s = self.syms[sym]
        self._advance(sym, s, s[S_WM])

    def watermark(self, pid: str, ts: int) -> None:
        """Producer ``pid`` has sent this shard every tick up to feed time ``ts`` (market.watermark;
        ``ANY``: every producer): its symbols' watermarks move up to ``ts``, emitting every bar now
        due. A symbol whose producer is not known (no tick with ``pid``) moves only with ``ANY``."""
        self.watermarks += 1
        every = pid == ANY
        before = self.emitted
        for sym, s in self.syms.items():
            if ts > s[S_WM] and (every or s[S_PID] == pid):
                s[S_WM] = ts
                if ts >= s[S_DUE]:
                    self._advance(sym, s, ts)
        if every and ts > self.wm:
            self.wm = ts
        if self.wm >= self.close_due:
            self.close_ended_sessions()
        if every:
            self.net_closed += self.emitted - before

    def close_ended_sessions(self) -> None:
        """The shard's watermark passed a session's close: every open bar of it is final (the native
        fold, market/bars_fold.py, stops behind the tick that moved the watermark and calls this)."""
        grace = self.config.grace_s
        nxt = NEVER
        for sym, s in self.syms.items():
            changed = False
            for bar in s[S_BARS]:
                if bar[B_EMIT] != OPEN:
                    continue
                close = self.session_bounds((bar[B_START] + IST_OFFSET) // DAY)[1]
                if bar[B_START] >= close:
                    continue  # an after-hours bucket closes by its own watermark
                if close + grace <= self.wm:
                    self._emit(sym, bar)
                    changed = True
                elif close + grace < nxt:
                    nxt = close + grace
            if changed:
                due = NEVER
                for bar in s[S_BARS]:
                    if bar[B_EMIT] == OPEN:
                        due = min(due, bar[B_START] + BAR_SECONDS + grace)
                s[S_DUE] = due
                self._trim(s)
        self.close_due = nxt

    def _trim(self, s: list) -> None:
        bars = s[S_BARS]
        keep = self.config.amend_bars
        done = sum(1 for bar in bars if bar[B_EMIT] != OPEN)
        while done > keep and bars and bars[0][B_EMIT] == EMITTED:
            del bars[0]
            done -= 1

    def has_output(self) -> bool:
        """Whether :meth:`take` has bars to hand out."""
        return bool(self.out or self._amended)

    def take(self) -> list[dict[str, Any]]:
        """Bars emitted since the last call: first emissions, then amendments (current rev)."""
        for sym, bar in self._amended:
            if bar[B_EMIT] == AMENDED:
                bar[B_EMIT] = EMITTED
                self.out.append(bar_record(sym, bar))
        self._amended.clear()
        out, self.out = self.out, []
        return out

    def take_too_late(self) -> list[tuple[dict[str, Any], str]]:
        out, self.too_late = self.too_late, []
        return out

    def close_all(self, upto_ts: int | None = None) -> None:
        """Emit every open bar whose bucket starts before ``upto_ts`` (all when None): the end of a
        stream or session when no later tick will come to move the watermark."""
        for sym, s in self.syms.items():
            for bar in s[S_BARS]:
                if bar[B_EMIT] == OPEN and (upto_ts is None or bar[B_START] < upto_ts):
                    self._emit(sym, bar)
            s[S_DUE] = min((bar[B_START] + BAR_SECONDS + self.config.grace_s
                            for bar in s[S_BARS] if bar[B_EMIT] == OPEN), default=NEVER)
            self._trim(s)

    # ----- carrying state -------------------------------------------------------------------
    def inherit(self, parent: BarBuilder, keep: Callable[[str], bool]) -> int:
        """Carry on ``parent``'s symbols for which ``keep(sym)`` holds, with their cumulative volume,
        open and amendable bars (a child shard after resharding takes the symbols whose partition keys
        hash into it), and the parent's watermark. Returns how many symbols came over."""
        taken = 0
        for sym, s in parent.syms.items():
            if keep(sym):
                self.syms[sym] = s
                taken += 1
        self.wm = max(self.wm, parent.wm)
        self.close_due = min(self.close_due, parent.close_due)
        return taken

    def open_bars(self) -> int:
        return sum(1 for s in self.syms.values() for bar in s[S_BARS] if bar[B_EMIT] == OPEN)

    def to_state(self, forget_after_s: int = DAY) -> dict[str, Any]:
        """JSON-able state. Symbols with nothing open and no tick for ``forget_after_s`` are left
        out (their dedup keys and amendable bars are past any use). Call after :meth:`take`."""
        if self._amended or self.out:
            raise BarStateError("take() the emitted bars before saving the state")
        cut = self.wm - forget_after_s
        syms = {}
        for sym, s in self.syms.items():
            if s[S_WM] < cut and all(bar[B_EMIT] != OPEN for bar in s[S_BARS]):
                continue
            syms[sym] = [s[S_DAY], s[S_LV], s[S_LT], s[S_DH], s[S_DL], s[S_WM], s[S_DUE],
                         [list(k) for k in s[S_RING]], [list(bar) for bar in s[S_BARS]], s[S_PID]]
        return {"v": STATE_VERSION, "wm": self.wm, "close_due": self.close_due, "syms": syms}

    @classmethod
    def from_state(cls, state: dict[str, Any], config: BarConfig | None = None) -> BarBuilder:
        version = state.get("v") if isinstance(state, dict) else None
        if version not in (1, STATE_VERSION):
            got = version if isinstance(state, dict) else type(state).__name__
            raise BarStateError(f"bar state version {got!r} is not {STATE_VERSION}; "
                                "delete the checkpoint to start the shard's bars afresh")
        self = cls(config)
        self.wm = state["wm"]
        self.close_due = state["close_due"]
        for sym, s in state["syms"].items():
            # copies: the caller's state stays as it was (a retry may start from it again)
            bars = [list(bar) for bar in s[S_BARS]]
            if version == 1:
                bars = [_bar_from_v1(bar) for bar in bars]
            self.syms[sym] = [*s[:S_RING], [tuple(k) for k in s[S_RING]], bars, s[S_PID] if version > 1 else None]
        return self


def _bar_from_v1(bar: list) -> list:
    """A version-1 bar: no tick turnover yet, so atp × vol stands in for it; v1 wrote 0.0 for a
    missing atp, which is None now."""
    t_end = bar[B_TCUM] if bar[B_TCUM] or bar[B_VCUM] <= 0 else None
    t_start = bar[B_PT] if bar[B_PT] or bar[B_PV] <= 0 else None
    bar[B_TCUM], bar[B_PT] = t_end, t_start
    return [*bar, t_end or 0.0, t_start or 0.0]


def build_bars(ticks: Iterable[dict[str, Any]], config: BarConfig | None = None,
               final: bool = True) -> list[dict[str, Any]]:
    """Every bar record of ``ticks`` (in stream order), closing the open ones at the end when
    ``final``. Convenience for tests, backfill and tools; the Lambda path uses :class:`BarBuilder`."""
    builder = BarBuilder(config)
    builder.add_many(ticks)
    if final:
        builder.close_all()
    return builder.take()


def curated(bars: Iterable[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """What compaction keeps: per (sym, start) the record of the highest ``rev`` (then most ticks)."""
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for bar in bars:
        k = (bar["sym"], bar["start"])
        cur = best.get(k)
        if cur is None or (bar["rev"], bar["n"]) > (cur["rev"], cur["n"]):
            best[k] = bar
    return best
