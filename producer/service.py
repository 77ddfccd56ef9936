"""The producer service: follow the NSE session, stream the socket into Kinesis, account for gaps.

Loop: outside the session, sleep until ``margin_before`` ahead of the next open (and say when that
is); in session, run the Fyers data socket (fyers.socket.DataSocket, which reconnects by itself)
feeding a :class:`~producer.pipeline.Pipeline`; at ``margin_after`` past the close, stop the
socket and sleep again. The pipeline's sender runs all the time, so a journal left by an earlier
run is replayed even outside the session.

The socket loop knows nothing of Kinesis (it hands ticks to a callback), and this module knows
nothing of bytes on the wire (the socket and fyers.feed turn frames into ticks).

:func:`run_producer` runs until ``stop`` is set (SIGTERM in the CLI) or ``sessions`` sessions
are done, and returns :class:`ProducerStats`; usable in a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import boto3
import orjson
from botocore.config import Config

from fyers.socket import MAX_SYMBOLS, EventKind, SocketEvent
from market.session import NseCalendar, ist_datetime
from producer.aggregator import AggRecord
from producer.clock import Clock
from producer.errors import ProducerError
from producer.frames import FrameQuarantine
from producer.gaps import GapRecorder
from producer.health import HealthServer
from producer.journal import Journal
from producer.metrics import Metrics, MetricsPublisher
from producer.options import ProducerOptions
from producer.pipeline import Pipeline
from producer.sequence import SeqStore
from producer.token_source import TokenSource, TokenUnavailable
from producer.watermarks import Watermarks
from tickpipe.config import Settings
from tickpipe.errors import UniverseError
from tickpipe.kpl import keyed_records
from tickpipe.universe import load_universe, parse_slice, take_slice

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

log = logging.getLogger(__name__)

# The producer retries by itself (per shard, in order); botocore's retries would hide failures.
KINESIS_CONNECT_TIMEOUT = 2.0


def kinesis_config(put_timeout: float) -> Config:
    return Config(retries={"total_max_attempts": 1}, connect_timeout=KINESIS_CONNECT_TIMEOUT,
                  read_timeout=put_timeout, max_pool_connections=4)

HEARTBEAT_FILE = "producer.heartbeat"
HEARTBEAT_EVERY = 1.0
DROPS_QUIET = 2.0  # s without a journal-full drop that end one journal_full gap
FEED_MARGIN = 1.0  # s: a gap starts this much before the last frame's time (symbols interleave in the feed)
QUIET_AFTER_CLOSE = 2.0  # wall s without a tick after the session's end before disconnecting
CLOSE_GRACE = 60.0  # wall s after the session's end at most


@dataclass
class ProducerStats:
    ticks_read: int = 0
    ticks_sent: int = 0
    records_sent: int = 0
    bytes_sent: int = 0
    put_calls: int = 0
    retries: int = 0
    throttles: int = 0
    spilled_records: int = 0
    replayed_records: int = 0
    dropped_ticks: int = 0
    reconnects: int = 0
    sessions: int = 0
    symbols: int = 0
    delivered_at_stop: bool = False
    kept_ticks: int = 0  # journalled at stop, replayed at the next start
    lost_ticks: int = 0  # read, and neither delivered, journalled nor covered by a gap record
    fatal: str | None = None  # why the producer stopped by itself (a worker thread died)
    gaps: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _State:
    """What the health endpoint reports."""

    state: str = "starting"
    connected: bool = False
    subscribed: bool = False
    auth_failing: bool = False
    disconnected_at: float | None = None  # monotonic
    next_session: str | None = None
    connects: int = 0


class Producer:
    """One producer process: clients, journal, pipeline, health, metrics. See :func:`run_producer`."""

    def __init__(self, settings: Settings, *, stop: threading.Event, symbols: Sequence[str] | None = None,
                 options: ProducerOptions | None = None, clock: Clock | None = None,
                 kinesis: KinesisClient | None = None, s3: S3Client | None = None, ssm: SSMClient | None = None,
                 cloudwatch: CloudWatchClient | None = None,
                 access_token: Callable[[], str] | None = None,
                 resolve_topics: Callable[[Sequence[str]], dict[str, str]] | None = None,
                 socket_factory: Callable[..., Any] | None = None) -> None:
        self.settings = settings
        self.stop = stop
        self.options = options or ProducerOptions.from_env()
        self.clock = clock or Clock()
        region = settings.region
        self.kinesis = kinesis or boto3.client("kinesis", region_name=region,
                                               config=kinesis_config(self.options.put_timeout))
        self.s3 = s3 or boto3.client("s3", region_name=region)
        self.ssm = ssm or boto3.client("ssm", region_name=region)
        self.cloudwatch = cloudwatch or boto3.client("cloudwatch", region_name=region)
        if symbols is None:
            universe = load_universe(settings.symbols, slice_spec=self.options.slice, s3=self.s3, ssm=self.ssm)
        else:
            universe = list(symbols)
            if self.options.slice:
                universe = take_slice(universe, *parse_slice(self.options.slice))
        if len(universe) > MAX_SYMBOLS:
            raise UniverseError(f"{len(universe)} symbols, but one socket connection carries at most {MAX_SYMBOLS}: "
                                f"run {-(-len(universe) // MAX_SYMBOLS)} or more producers with --slice K/N")
        self.symbols = universe
        self.metrics = Metrics()
        self.state = _State()
        self.stats = ProducerStats(symbols=len(universe))
        self.gaps = GapRecorder(self.s3, settings.bucket, settings.producer_id, clock=self.clock.time,
                                on_gap=self._on_gap)
        self.frames = FrameQuarantine(self.s3, settings.bucket, settings.producer_id, clock=self.clock.time)
        self.tokens: TokenSource | None = None
        if access_token is None:
            self.tokens = access_token = TokenSource(self._load_token, stop=stop, metrics=self.metrics,
                                                     retry_cap=self.options.token_retry_cap)
        self.access_token: Callable[[], str] = access_token
        self.resolve_topics = resolve_topics
        self.socket_factory = socket_factory
        self.calendar = NseCalendar(settings.session_overrides)
        self.journal_dir = Path(self.options.journal_dir)
        self.journal = Journal(self.journal_dir, max_bytes=self.options.journal_max_bytes,
                               fsync=self.options.journal_fsync, fsync_interval=self.options.journal_fsync_interval)
        self._last_heartbeat = 0.0
        self.seqs = SeqStore(self.journal_dir)  # (pid, seq) unique across restarts
        self._sock: Any = None
        self.pipeline: Pipeline | None = None
        self.health_url: str | None = None
        self._session_started: float | None = None
        self._closing_socket = False
        self.fatal: str | None = None  # a worker thread died: the producer stops, exits non-zero
        self._last_drop = 0.0  # monotonic time of the last journal-full drop
        self._samples: deque[tuple[float, float]] = deque(maxlen=2000)  # (monotonic, clock time), 0.2 s apart
        self._subscribed_at: float | None = None  # clock time of the last subscription
        self._in_session = False
        self._reading_stopped_at: float | None = None  # clock time the socket was last stopped by us

    # -- wiring -------------------------------------------------------------------------------
    def _load_token(self) -> str:
        from fyers.token_store import TokenStore  # the CLIENT engineer's SSM token store

        return TokenStore(self.ssm, self.settings.ssm_prefix).load_access_token()

    def _last_capture(self) -> float:
        """Where a disconnect gap starts: the last frame with ticks on this connection (a stall is
        noticed only stall_timeout later), less FEED_MARGIN; now if none came since subscribing.
        The frame's time is the earlier of the clock when it came and its feed time: ticks not
        read follow it in the feed, and bars bucket them by feed time, whichever clock runs ahead.
        Only a feed time of the clock's (UTC) day counts: a simulator replaying another day against
        the wall clock must not move the gap, and the day its record is filed under, to that day."""
        now = self.clock.time()
        p = self.pipeline
        last = p.last_tick_clock if p else None
        since = self._subscribed_at
        if p is None or last is None or since is None or last < since:
            return min(now, since) if since is not None else now
        feed = p.last_tick_ts
        if feed and int(feed // 86400) == int(last // 86400):
            last = min(last, feed)
        return last - FEED_MARGIN

    def _fatal(self, reason: str) -> None:
        """A worker thread died: unready at once, stop (the pipeline journals what is in memory)."""
        if self.fatal is None:
            self.fatal = reason
        self.stop.set()

    def _on_gap(self, gap: dict[str, Any]) -> None:
        self.metrics.add("Gaps")
        self.stats.gaps.append(gap)

    def _on_dropped(self, rec: AggRecord) -> None:
        """Journal full (sender thread): add the record's symbols, times and ticks to the open drop
        interval; :meth:`_flush_drops` records it as one gap once drops stop (or at stop)."""
        symbols, times = set(), []
        for pk, data in keyed_records(rec.data):
            symbols.add(pk)
            try:
                tick = orjson.loads(data)
                times += [tick[k] for k in ("ts", "ltt") if isinstance(tick.get(k), int | float)]  # bars: ltt
            except (orjson.JSONDecodeError, AttributeError):
                pass
        now = self.clock.time()
        self.gaps.add_drops(symbols, min(times, default=now), max(times, default=now), rec.count)
        self._last_drop = time.monotonic()

    def _flush_drops(self, force: bool = False) -> None:
        """End the open drop interval once no drop came for DROPS_QUIET s: one ``journal_full`` gap,
        recorded when each of its symbols has a tick again (producer/gaps.py)."""
        if self.gaps.is_open("journal_full") and (force or time.monotonic() - self._last_drop >= DROPS_QUIET):
            self.gaps.close("journal_full")

    def _make_socket(self, on_ticks: Callable[[list[dict[str, Any]]], None]) -> Any:
        if self.socket_factory is not None:
            return self.socket_factory(symbols=self.symbols, access_token=self.access_token, on_ticks=on_ticks,
                                       on_event=self._on_event)
        from fyers.socket import DataSocket  # the CLIENT engineer's socket loop

        resolve = self.resolve_topics or _default_resolver(self.settings, self.access_token)
        return DataSocket(self.settings.fyers_ws_url, access_token=self.access_token, symbols=self.symbols,
                          resolve_topics=resolve, on_ticks=on_ticks, on_event=self._on_event,
                          mode=cast("Literal['full', 'lite']", self.options.mode),  # ProducerOptions' choices
                          producer_id=self.settings.producer_id,
                          seq_start=self.seqs.start())

    def _on_event(self, event: SocketEvent) -> None:
        kind = event.kind
        st = self.state
        if kind == EventKind.CONNECTED:
            st.connected = True
            st.connects += 1
            if st.connects > 1:
                self.stats.reconnects += 1
                self.metrics.add("Reconnects")
            self.metrics.set("Connected", 1)
        elif kind == EventKind.AUTHENTICATED:
            st.auth_failing = False
            if self.tokens:
                self.tokens.succeeded()
            self.gaps.close("auth")
        elif kind == EventKind.SUBSCRIBED:
            st.subscribed = True
            st.state = "streaming"
            st.disconnected_at = None
            self._subscribed_at = self.clock.time()
            self.gaps.close("disconnect")  # recorded once each symbol's first tick came (producer/gaps.py)
            self.gaps.close("restart")
            log.info("subscribed to %d symbols", len(self.symbols))
        elif kind == EventKind.DISCONNECTED:
            if self._closing_socket:
                return  # our own close at the end of a session or at stop: not a gap
            if st.connected:
                st.disconnected_at = time.monotonic()
            st.connected = st.subscribed = False
            self.metrics.set("Connected", 0)
            self.gaps.open("disconnect", self.symbols, at=self._last_capture())
        elif kind in (EventKind.AUTH_FAILED, EventKind.TOKEN_EXPIRED):
            st.auth_failing = True
            self.metrics.add("AuthFailures")
            if self.tokens:
                self.tokens.failed(expired=kind == EventKind.TOKEN_EXPIRED)
            self.gaps.open("auth", self.symbols)
            log.warning("socket %s: re-reading the token from SSM with backoff", kind.replace("_", " "))
        elif kind == EventKind.MALFORMED_FRAME:
            self.metrics.add("MalformedFrames")
            self.frames.keep(event.data, event.detail)

    # -- health -------------------------------------------------------------------------------
    @property
    def ticks_read(self) -> int:
        return self.pipeline.ticks_read if self.pipeline else 0

    def status(self) -> dict[str, Any]:
        st, p = self.state, self.pipeline
        last = p.last_tick_at if p else None
        ready, reason = True, None
        auth_failing = st.auth_failing or bool(self.tokens and self.tokens.waiting)
        if st.state in ("connecting", "streaming"):
            # Down past the grace: unready, so ECS replaces the task (a stuck network path, SSM
            # unreachable). Except while SSM keeps answering with the token Fyers refused: a
            # replacement cannot mend a token and would only hammer Fyers; the AuthFailing alarm
            # tells people, and the producer picks up the new token as soon as SSM has it.
            down_since = st.disconnected_at or (None if st.subscribed else self._session_started)
            if down_since is not None and time.monotonic() - down_since >= self.options.health_grace:
                refused = bool(self.tokens and self.tokens.refused_in_ssm)
                ready = refused
                reason = "token refused; waiting for a new one in SSM" if refused else "disconnected"
        if st.state == "stopped":
            ready, reason = False, "stopped"
        if self.fatal:
            ready, reason = False, self.fatal
        return {"ready": ready, "reason": reason, "state": st.state, "connected": st.connected,
                "subscribed": st.subscribed, "auth_failing": auth_failing,
                "last_tick_age_s": None if last is None else
                round(time.monotonic() - last, 3), "symbols": len(self.symbols), "next_session": st.next_session,
                "ticks_read": self.ticks_read, "ticks_sent": self.metrics.totals["TicksSent"],
                **(p.status() if p else {})}

    def _refresh_gauges(self) -> None:
        p = self.pipeline
        if p is None:
            return
        self.metrics.set("JournalDepth", self.journal.pending_entries)
        self.metrics.set("Pending", p.sender.pending_records)
        waiting = bool(self.tokens and self.tokens.waiting)
        self.metrics.set("AuthFailing", 1 if self.state.auth_failing or waiting else 0)
        if p.last_tick_at:
            self.metrics.set("LastTickAge", time.monotonic() - p.last_tick_at)
        self.gaps.retry()

    # -- heartbeat (restart gaps) ---------------------------------------------------------------
    def _tick(self) -> None:
        """Every round of the main loop (0.2 s): clock samples, the heartbeat, drop intervals."""
        now = time.monotonic()
        if not self._samples or now - self._samples[-1][0] >= 0.2:
            self._samples.append((now, self.clock.time()))
        self._flush_drops()
        self.gaps.settle()
        self.frames.flush()
        self._heartbeat()

    def _clock_at(self, mono: float) -> float:
        """The producer clock's time at monotonic ``mono``, never later than it was (from the samples)."""
        best = None
        for m, c in reversed(self._samples):
            if m <= mono:
                best = c
                break
        if best is None:  # older than every sample (400 s): count back at wall speed from the oldest
            oldest_m, oldest_c = self._samples[0] if self._samples else (time.monotonic(), self.clock.time())
            best = oldest_c - (oldest_m - mono)
        return best

    def _accounted_until(self) -> float:
        """Clock time before which every tick read is delivered, journalled or inside a recorded gap:
        the oldest tick held only in memory, an unrecorded gap's start (one still open, or waiting for
        its symbols' first ticks), an unstored gap's start, or now."""
        times = [self.clock.time()]
        oldest = self.pipeline.oldest_in_memory() if self.pipeline else None
        if oldest is not None:
            times.append(self._clock_at(oldest) - FEED_MARGIN)
        times += [t for t in (self.gaps.oldest_open(), self.gaps.oldest_unsent()) if t is not None]
        return min(times)

    def _heartbeat(self, force: bool = False) -> None:
        """Leave ``{"at", "in_session"}`` in the journal directory: where the next start's ``restart``
        gap begins if this run ends now, even by SIGKILL. A clean stop writes its last one."""
        now = time.monotonic()
        if not force and now - self._last_heartbeat < HEARTBEAT_EVERY:
            return
        self._last_heartbeat = now
        self._save_seq()
        self._write_beat({"at": self._accounted_until(), "in_session": self._in_session})

    def _write_beat(self, beat: dict[str, Any]) -> None:
        path = self.journal_dir / HEARTBEAT_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(orjson.dumps(beat))
            tmp.replace(path)
        except OSError as exc:  # the journal disk: the sender reports its failures; the beat is best effort
            log.error("cannot write the heartbeat %s (%s): a restart gap may be missed", path, exc)

    def _save_seq(self) -> None:
        last = getattr(self._sock, "last_seq", None)
        if isinstance(last, int):
            self.seqs.save(last)

    def _check_previous_run(self) -> None:
        """The last run's final heartbeat: if it was reading in session, the feed was not captured
        from its ``at`` until this run subscribes: a ``restart`` gap, open until then."""
        path = self.journal_dir / HEARTBEAT_FILE
        try:
            beat = orjson.loads(path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return
        if beat.get("in_session") and isinstance(beat.get("at"), int | float):
            how = "stopped cleanly" if beat.get("clean") else "stopped without a clean shutdown"
            log.warning("the previous run %s; the feed is not captured since %s", how, ist_datetime(beat["at"]))
            self.gaps.open("restart", self.symbols, at=beat["at"])

    # -- the loop -----------------------------------------------------------------------------
    def run(self, sessions: int | None = None) -> ProducerStats:
        opts = self.options
        log.info("producer %s: %d symbols → stream %s (%s)", self.settings.producer_id, len(self.symbols),
                 self.settings.stream, f"slice {opts.slice}" if opts.slice else "whole universe")
        try:
            self.pipeline = Pipeline(self.kinesis, self.settings.stream, journal=self.journal, metrics=self.metrics,
                                     max_buffer_ms=opts.max_buffer_ms, record_bytes=opts.record_bytes,
                                     max_pending_bytes=opts.max_pending_bytes, spill_after=opts.spill_after,
                                     map_refresh=opts.map_refresh, on_dropped=self._on_dropped,
                                     call_timeout=self._call_timeout(), on_fatal=self._fatal,
                                     clock=self.clock.time, on_read=self.gaps.seen,
                                     watermarks=Watermarks(self.settings.producer_id, self.clock,
                                                           self.calendar if opts.session == "calendar" else None),
                                     ).start()
        except BaseException:
            self.journal.close()  # e.g. the stream does not exist: release the directory for the next try
            raise
        health: HealthServer | None = None
        publisher = MetricsPublisher(self.metrics, self.cloudwatch, self.settings.producer_id,
                                     interval=opts.metrics_interval, refresh=self._refresh_gauges).start()
        try:
            if opts.health_port >= 0:
                try:
                    health = HealthServer(self.status, opts.health_host, opts.health_port).start()
                except OSError as exc:
                    raise ProducerError(f"cannot serve health on {opts.health_host}:{opts.health_port} ({exc}); "
                                        "set TICKPIPE_PRODUCER_HEALTH_PORT (0 = any free port, -1 = none)") from None
                log.info("health endpoint on %s", health.url)
                self.health_url = health.url
            self._check_previous_run()
            while not self.stop.is_set():
                end_at = None
                if opts.session == "calendar":
                    now = self.clock.time()
                    session = self.calendar.next_session(now, opts.margin_after)
                    start_at = session.open_ts - opts.margin_before
                    if now < start_at:
                        self.gaps.close("restart", wait=False)  # not reading is no gap outside the session
                        self.state.state = "sleeping"
                        self.state.next_session = str(session)
                        log.info("outside the session: next session %s; connecting at %s (in %.1f h)", session,
                                 ist_datetime(start_at).strftime("%Y-%m-%d %H:%M IST"), (start_at - now) / 3600)
                        self._sleep_until(start_at)
                        continue
                    end_at = session.close_ts + opts.margin_after
                    self.state.next_session = str(session)
                self.stats.sessions += 1
                self._run_session(end_at)
                if sessions is not None and self.stats.sessions >= sessions:
                    break
        finally:
            self.state.state = "stopping"
            t0 = time.monotonic()
            accounted = self._accounted_until()  # before the stop: what it journals is not yet durable
            report = self.pipeline.stop(opts.stop_timeout)
            self.stats.delivered_at_stop = report.delivered
            self.stats.kept_ticks, self.stats.lost_ticks = report.kept_ticks, report.lost_ticks
            self.stats.fatal = self.fatal
            self.gaps.close_all()
            self._collect()
            publisher.stop()
            self.gaps.retry()
            self._flush_drops(force=True)
            self.gaps.retry()
            self.frames.flush()
            # The next start's restart gap begins where reading stopped (or, if ticks were lost or
            # gaps could not be stored, where the loss began): a clean stop is a gap too.
            stopped = self._reading_stopped_at if self._reading_stopped_at is not None else self.clock.time()
            if report.lost_ticks:
                stopped = min(stopped, accounted)
            unsent = self.gaps.oldest_unsent()
            self._write_beat({"at": min(stopped, unsent) if unsent is not None else stopped,
                              "in_session": self._in_session, "clean": not (self.fatal or report.lost_ticks)})
            self.state.state = "stopped"
            if health:
                health.stop()
            log.log(logging.ERROR if self.fatal or report.lost_ticks else logging.INFO,
                    "producer stopped in %.1f s%s: %d ticks read, %d sent, %d journalled now (%d journal entries "
                    "to replay), %d dropped with a gap record, %d LOST", time.monotonic() - t0,
                    f" after a failure ({self.fatal})" if self.fatal else "", self.stats.ticks_read,
                    self.stats.ticks_sent, report.kept_ticks, self.journal.pending_entries,
                    self.stats.dropped_ticks, report.lost_ticks)
        return self.stats

    def _call_timeout(self) -> float:
        """The longest one PutRecords call can take: the client's connect + read timeouts, and a margin."""
        cfg = getattr(getattr(self.kinesis, "meta", None), "config", None)
        connect = getattr(cfg, "connect_timeout", None) or KINESIS_CONNECT_TIMEOUT
        read = getattr(cfg, "read_timeout", None) or self.options.put_timeout
        return float(connect) + float(read) + 1.0

    def _sleep_until(self, when: float) -> None:
        left = when - self.clock.time()
        if left > 0:
            self.clock.sleep(left, self.stop)  # wakes at once when stop is set

    @property
    def _pipeline(self) -> Pipeline:
        """The pipeline of the run in progress (run() makes it before any session starts)."""
        if self.pipeline is None:
            raise RuntimeError("the producer's pipeline is used before run() made it")
        return self.pipeline

    def _run_session(self, end_at: float | None) -> None:
        self.state.state = "connecting"
        self._session_started = time.monotonic()
        self._in_session = True
        while not self.stop.is_set() and not self._session_over(end_at):
            if self._run_socket(end_at):
                break
            log.error("the socket loop ended by itself; starting a new one in 1 s")
            self.stop.wait(1.0)
        if self._session_over(end_at):
            self._pipeline.final_watermark()  # the day's last bars close now, not at the next session
        if not self.stop.is_set():  # the session is over (a stop keeps the open gaps for the last heartbeat)
            self._in_session = False
            self.gaps.close("disconnect")
            self.gaps.close("restart")
            self._flush_drops(force=True)
            self.gaps.settle(final=True)  # no first tick comes before the next session: record up to now
        self._collect()

    def _session_over(self, end_at: float | None) -> bool:
        return end_at is not None and self.clock.time() >= end_at

    def _run_socket(self, end_at: float | None) -> bool:
        """One socket loop until stop or the session's end (True), or until it dies by itself (False)."""
        self._closing_socket = False
        sock = self._sock = self._make_socket(self._pipeline.on_ticks)
        sock_stop = threading.Event()
        died: list[BaseException] = []

        def body() -> None:
            try:
                sock.run(sock_stop)
            except TokenUnavailable:
                pass  # stopped while waiting for a token
            except BaseException as exc:  # reported and restarted by the session loop
                log.exception("socket loop failed")
                died.append(exc)

        thread = threading.Thread(target=body, name="fyers-socket", daemon=True)
        thread.start()
        try:
            over_since: float | None = None
            started = time.monotonic()
            while not self.stop.is_set() and thread.is_alive():
                if self._session_over(end_at):
                    # A feed running behind the clock still carries the session's last ticks: read on
                    # until its ticks reach the end, it goes quiet, or CLOSE_GRACE s have passed.
                    over_since = over_since or time.monotonic()
                    p = self.pipeline
                    heard = max(started, p.last_tick_at or 0.0) if p else started
                    quiet = time.monotonic() - heard >= QUIET_AFTER_CLOSE
                    caught_up = p is not None and p.last_tick_ts >= end_at  # type: ignore[operator]
                    if quiet or caught_up or time.monotonic() - over_since >= CLOSE_GRACE:
                        log.info("session over; disconnecting")
                        return True
                self._tick()
                self.stop.wait(0.2)
            return self.stop.is_set()
        finally:
            self._closing_socket = True
            self._reading_stopped_at = self._last_capture()  # frames still in flight are not captured
            sock_stop.set()  # stop reading first, then flush (in run's finally)
            close = getattr(sock, "close", None)
            if close:
                close()
            thread.join(timeout=5)
            self._save_seq()
            self.state.connected = self.state.subscribed = False

    def _collect(self) -> None:
        s, st = self._pipeline.sender.stats, self.stats
        st.ticks_read = self._pipeline.ticks_read
        st.ticks_sent, st.records_sent, st.bytes_sent = s.ticks_sent, s.records_sent, s.bytes_sent
        st.put_calls, st.retries, st.throttles = s.calls, s.retries, s.throttles
        st.spilled_records, st.replayed_records, st.dropped_ticks = s.spilled_records, s.replayed_records, \
            s.dropped_ticks


def _default_resolver(settings: Settings, access_token: Callable[[], str]) -> Callable[[Sequence[str]], dict[str, str]]:
    from fyers.rest import RestClient
    from fyers.symbols import SymbolClient  # symbol-token lookups live with the Fyers client

    return SymbolClient(RestClient(settings.fyers_api_url), access_token).topics


def run_producer(settings: Settings, *, stop: threading.Event, symbols: Sequence[str] | None = None,
                 options: ProducerOptions | None = None, clock: Clock | None = None, sessions: int | None = None,
                 **clients: Any) -> ProducerStats:
    """Run the producer until ``stop`` is set (or ``sessions`` sessions are over); returns its stats.

    ``symbols`` overrides the universe source; ``options`` the TICKPIPE_PRODUCER_* variables;
    ``clock`` the wall clock (tests). ``clients`` may pass kinesis, s3, ssm, cloudwatch boto3
    clients, an ``access_token`` callable, ``resolve_topics`` or a ``socket_factory``.
    """
    return Producer(settings, stop=stop, symbols=symbols, options=options, clock=clock, **clients).run(sessions)
