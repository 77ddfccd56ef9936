"""Backfill: exchange candles from the Fyers history API into the curated candle tables.

A request (symbols, IST dates ``first``..``last``, resolutions) becomes *chunks*: one symbol, one
resolution and a run of whole IST days that one history request may cover (FYERS.md: 100 days
for minute resolutions, 366 for daily). Each chunk is one request. Chunks are fetched through a
:class:`fyers.history.HistoryClient`, whose REST client waits on the rate limiter (shared across
processes with :class:`fyers.shared_limiter.FileRateLimiter`) and retries transient errors.

Resumable: once a chunk's candles are in the lake, a marker object
``state/backfill/res=<r>/<symbol>/<first>_<last>.json`` records it, and a later run skips every
chunk with a marker, so an interrupted run continues where it stopped and a repeated one makes no
request at all. Only *final* chunks get a marker: one whose last day's session closed (plus
:data:`SETTLE_SECONDS`); a chunk reaching into today is fetched again next time.

Idempotent: candles are merged into their day objects by key (consumers.history.candles), so fetching a
chunk twice writes the same rows.

Candles are buffered for up to ``flush_symbols`` symbols of one chunk window, then written (one
read-merge-write per touched day and table) and marked: a crash loses at most that buffer, which
the next run fetches again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

from consumers.history.candles import RESOLUTIONS, CandleTable, CandleWriter, rows_by_day, table_for
from consumers.history.errors import BackfillError
from fyers.errors import DailyLimitError, FyersError, InvalidTokenError, TokenExpiredError
from fyers.history import Candle, HistoryClient, max_chunk_days, normalize_resolution
from market.session import CLOSE, epoch, trading_date
from tickpipe import names

log = logging.getLogger(__name__)

PREFIX: Final = names.STATE + "backfill/"
SETTLE_SECONDS: Final = 30 * 60  # after the close, Fyers' day candles are final
DAY: Final = dt.timedelta(days=1)


@dataclass(frozen=True)
class Chunk:
    sym: str
    res: str
    first: dt.date
    last: dt.date

    @property
    def marker(self) -> str:
        return f"{PREFIX}res={self.res}/{self.sym}/{self.first.isoformat()}_{self.last.isoformat()}.json"

    @property
    def range(self) -> tuple[int, int]:
        """The request's range_from / range_to: every second of the chunk's IST days."""
        return epoch(self.first, dt.time(0, 0)), epoch(self.last + DAY, dt.time(0, 0)) - 1


@dataclass(frozen=True)
class BackfillRequest:
    syms: tuple[str, ...]  # (not "symbols": that name is a Settings field the infra tests follow)
    first: dt.date
    last: dt.date
    resolutions: tuple[str, ...] = RESOLUTIONS

    @classmethod
    def make(cls, symbols: Iterable[str], first: dt.date, last: dt.date,
             resolutions: Iterable[str | int], today: dt.date) -> BackfillRequest:
        syms = tuple(dict.fromkeys(s.strip() for s in symbols if s.strip()))
        if not syms:
            raise BackfillError("no symbols to backfill: pass --symbols NSE:SBIN-EQ,NSE:TCS-EQ")
        bad = [s for s in syms if ":" not in s]
        if bad:
            raise BackfillError(f"{bad[0]!r} is not a Fyers symbol like 'NSE:SBIN-EQ'")
        if last < first:
            raise BackfillError(f"--to {last} is before --from {first}")
        if first > today:
            raise BackfillError(f"--from {first} is in the future (today is {today} IST): there is no history yet")
        res: list[str] = []
        for r in resolutions:
            try:
                n = normalize_resolution(r)
            except ValueError as exc:
                raise BackfillError(str(exc)) from None
            n = "D" if n == "1D" else n
            if n not in RESOLUTIONS:
                raise BackfillError(f"resolution {r!r} has no candle table; use {', '.join(RESOLUTIONS)}")
            res.append(n)
        if not res:
            raise BackfillError("no resolution given; use --resolution 1|5|15|60|D")
        return cls(syms, first, min(last, today), tuple(dict.fromkeys(res)))

    def chunks(self) -> list[Chunk]:
        """Every chunk, grouped by resolution and window (the order they are fetched in)."""
        out = []
        for res in self.resolutions:
            days = max_chunk_days(res)
            a = self.first
            while a <= self.last:
                b = min(self.last, a + dt.timedelta(days=days - 1))
                out += [Chunk(s, res, a, b) for s in self.syms]
                a = b + DAY
        return out


# The backfill function's event (the call form: "from" is a Python keyword). "from" and "to" are
# needed; the handler, not the type, says so when one is missing (BackfillError).
BackfillEvent = TypedDict("BackfillEvent", {
    "from": str,  # yyyy-MM-dd
    "to": str,
    "symbols": list[str],
    "resolutions": list[str],  # default: RESOLUTIONS
}, total=False)


class BackfillResponse(TypedDict):
    """The backfill function's response: :class:`BackfillReport`'s fields."""

    chunks: int
    already_done: int
    fetched: int
    marked: int
    candles: int
    requests: int
    objects_written: int
    failed: list[str]
    stopped: str
    pending: int
    seconds: float


@dataclass
class BackfillReport:
    chunks: int = 0
    already_done: int = 0
    fetched: int = 0
    marked: int = 0
    candles: int = 0
    requests: int = 0
    objects_written: int = 0
    failed: list[str] = field(default_factory=list)
    stopped: str = ""  # why the run stopped early (daily limit, token, deadline), else ""
    pending: int = 0  # chunks left for a later run (not fetched, failed, or not yet final)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.stopped

    def summary(self) -> str:
        text = (f"{self.chunks} chunks: {self.already_done} already done, {self.fetched} fetched "
                f"({self.requests} requests, {self.candles:,} candles, {self.objects_written} day objects "
                f"written), {len(self.failed)} failed, {self.pending} pending; {self.seconds:.1f} s")
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text

    def to_dict(self) -> BackfillResponse:
        return BackfillResponse(chunks=self.chunks, already_done=self.already_done, fetched=self.fetched,
                                marked=self.marked, candles=self.candles, requests=self.requests,
                                objects_written=self.objects_written, failed=self.failed, stopped=self.stopped,
                                pending=self.pending, seconds=self.seconds)


class Manifest:
    """The finished chunks, one marker object each (concurrent runs never overwrite each other's)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def done(self, resolutions: Sequence[str]) -> set[str]:
        keys: set[str] = set()
        for res in resolutions:
            keys |= {o["Key"] for o in self.store.list(f"{PREFIX}res={res}/")}
        return keys

    def mark(self, chunk: Chunk, candles: int, now: float) -> None:
        self.store.put_json(chunk.marker, {"sym": chunk.sym, "res": chunk.res, "first": chunk.first.isoformat(),
                                           "last": chunk.last.isoformat(), "candles": candles,
                                           "finished": int(now), "v": 1})


class Backfill:
    """Runs a :class:`BackfillRequest` against a history client and a lake store."""

    def __init__(self, history: HistoryClient, store: Any, *, clock: Callable[[], float] = time.time,
                 flush_symbols: int = 50, progress: Callable[[str, int, int], None] | None = None,
                 deadline: Callable[[], bool] | None = None, force: bool = False) -> None:
        if flush_symbols < 1:
            raise ValueError(f"flush_symbols must be at least 1, got {flush_symbols}")
        self.history = history
        self.store = store
        self.manifest = Manifest(store)
        self.writer = CandleWriter(store)
        self.clock = clock
        self.flush_symbols = flush_symbols
        self.progress = progress
        self.deadline = deadline or (lambda: False)
        self.force = force  # fetch chunks with a marker too (a day object was lost or corrupt)

    def final(self, chunk: Chunk) -> bool:
        """True when the chunk's last session is over and its candles will not change."""
        return self.clock() >= epoch(chunk.last, CLOSE) + SETTLE_SECONDS

    def run(self, request: BackfillRequest) -> BackfillReport:  # noqa: C901 - one resumable pass over the chunks
        t0 = time.monotonic()
        report = BackfillReport()
        chunks = request.chunks()
        report.chunks = len(chunks)
        done = set() if self.force else self.manifest.done(request.resolutions)
        todo = [c for c in chunks if c.marker not in done]
        report.already_done = len(chunks) - len(todo)
        requests0 = self.history.requests
        buffer: list[tuple[Chunk, dict[str, list[dict[str, Any]]], int]] = []
        progressed = report.already_done

        def flush() -> None:
            by_table: dict[str, tuple[CandleTable, dict[str, list[dict[str, Any]]]]] = {}
            for chunk, days, _n in buffer:
                table = table_for(chunk.res)
                merged = by_table.setdefault(table.name, (table, {}))[1]
                for day, rows in days.items():
                    merged.setdefault(day, []).extend(rows)
            for table, days in by_table.values():
                report.objects_written += len(self.writer.write(table, days))
            now = self.clock()
            for chunk, _days, n in buffer:
                if self.final(chunk):
                    self.manifest.mark(chunk, n, now)
                    report.marked += 1
            buffer.clear()

        self._show(progressed, report.chunks)
        try:
            for chunk in todo:
                if self.deadline():
                    report.stopped = "time limit reached; run again to continue"
                    break
                if buffer and (len(buffer) >= self.flush_symbols or (buffer[-1][0].res, buffer[-1][0].first)
                               != (chunk.res, chunk.first)):
                    flush()
                try:
                    candles = self._fetch(chunk)
                except (TokenExpiredError, InvalidTokenError) as exc:
                    report.stopped = f"the Fyers token was refused ({exc.message}); refresh it and run again"
                    break
                except FyersError as exc:
                    log.warning("backfill of %s %s %s..%s failed: %s", chunk.sym, chunk.res, chunk.first,
                                chunk.last, exc)
                    report.failed.append(f"{chunk.sym} res={chunk.res} {chunk.first}..{chunk.last}: {exc}")
                    continue
                table = table_for(chunk.res)
                buffer.append((chunk, rows_by_day(table, chunk.sym, chunk.res, candles), len(candles)))
                report.fetched += 1
                report.candles += len(candles)
                progressed += 1
                self._show(progressed, report.chunks)
        except DailyLimitError as exc:
            report.stopped = str(exc)
            if buffer:
                flush()
        except BaseException:
            # Interrupted (Ctrl-C, a Lambda timeout signal, an S3 error): keep what was fetched if the
            # lake takes it, so the next run resumes after it; the original error is what the caller sees.
            try:
                if buffer:
                    flush()
            except Exception:
                log.exception("could not save the fetched candles while stopping")
            raise
        else:
            if buffer:
                flush()
        finally:
            report.requests = self.history.requests - requests0
            report.pending = report.chunks - report.already_done - report.marked
            report.seconds = time.monotonic() - t0
        return report

    def _fetch(self, chunk: Chunk) -> list[Candle]:
        start, end = chunk.range
        try:
            return self.history.candles(chunk.sym, chunk.res, start, end)
        except (TokenExpiredError, InvalidTokenError):
            # The token service may have refreshed the token since it was read: read it again, once.
            reload = getattr(self.history.access_token_source, "reload", None)
            if reload is None:
                raise
            reload()
            return self.history.candles(chunk.sym, chunk.res, start, end)

    def _show(self, done: int, total: int) -> None:
        if self.progress:
            self.progress("backfill chunks", done, total)


# CloudWatch metrics of a run (EMF lines on stdout; Lambda turns them into metrics).
METRICS: Final = {"BackfillRequests": "requests", "BackfillCandles": "candles", "BackfillFailedChunks": "failed",
                  "BackfillPendingChunks": "pending"}
STOP_MARGIN_MS: Final = 60_000  # stop taking chunks this long before Lambda's timeout, to write what was fetched


def emit_metrics(report: BackfillReport) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    for name, attr in METRICS.items():
        value = getattr(report, attr)
        with single_metric(name=name, unit=MetricUnit.Count, value=len(value) if isinstance(value, list) else value,
                           namespace=names.METRIC_NAMESPACE):
            pass


def handler(event: BackfillEvent | None, context: Any = None) -> BackfillResponse:
    """Lambda entry point, the same job as `tickpipe backfill`. Invoke it with
    ``{"symbols": ["NSE:SBIN-EQ", ...], "from": "2026-10-01", "to": "2026-10-31", "resolutions": ["5", "D"]}``
    (resolutions default to all). It stops a minute before its timeout and reports ``pending``
    chunks: invoke it again with the same event to continue."""
    from consumers.history.client import history_client
    from consumers.lake.store import LakeStore
    from tickpipe.config import Settings

    event = event or {}
    settings = Settings.from_env()
    now = time.time()
    try:
        first, last = dt.date.fromisoformat(str(event["from"])), dt.date.fromisoformat(str(event["to"]))
    except (KeyError, ValueError) as exc:
        raise BackfillError(f"the event needs 'from' and 'to' as yyyy-MM-dd dates ({exc})") from None
    request = BackfillRequest.make(event.get("symbols") or (), first, last, event.get("resolutions") or RESOLUTIONS,
                                   today=trading_date(now))
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = (lambda: remaining() < STOP_MARGIN_MS) if remaining else None
    report = Backfill(history_client(settings), LakeStore(settings.bucket), deadline=deadline).run(request)
    emit_metrics(report)
    log.info("backfill: %s", report.summary())
    return report.to_dict()
