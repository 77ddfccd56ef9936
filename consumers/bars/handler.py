"""Lambda "bars": the ticks stream → 5-minute bars → the bars Firehose delivery stream (raw/bars/).

Event source: the ticks Kinesis stream, with a tumbling window, ReportBatchItemFailures and
bisect-on-error. One invocation:

1. Restore the shard's bar state: from the event's ``state`` (the previous invocation of this
   window), else from the shard's checkpoint in the lake (``state/bars/<stream>/<shard>.json``,
   written at every window's end), else, for a child shard after resharding, from its parents'
   checkpoints (the symbols whose partition keys hash into this shard).
2. Skip records at or below the state's sequence number (Lambda retries, replays): the state is
   exactly "every record up to ``seq`` folded in", so nothing is counted twice.
3. De-aggregate, parse, fold ticks into bars (market.bars). Poison is quarantined with its reason.
4. Send emitted bars to Firehose; write quarantine objects.
5. Return the new state (inline while it is small; else saved to the checkpoint and referenced) and,
   at the window's end, save the checkpoint.

On a transient failure (Firehose or S3 down) the response is a partial batch response naming the
first record whose output did not land, with the state as it was just before that record, so the
retry starts there and produces the same bars (same ``rev``): idempotent at the lake.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import boto3
import orjson

from consumers.bars.decode import NOT_PARSED, b64decode, fast_ticks, parse_ticks
from consumers.bars.errors import TransientError
from consumers.bars.events import BarsState, KinesisEventRecord, KinesisWindowEvent, WindowResponse
from consumers.bars.io import AWS_ERRORS, BarSink, Lake
from consumers.bars.options import BarsOptions
from market.bars import BarBuilder, BarConfig
from market.bars_fold import NATIVE, fold_values
from market.errors import BarStateError, WatermarkError
from market.watermark import MARKER as WATERMARK_MARKER
from market.watermark import decode as decode_watermark
from market.watermark import is_watermark
from tickpipe import names
from tickpipe.config import Settings
from tickpipe.errors import AggregateError
from tickpipe.kinesis import hash_key, list_shards
from tickpipe.kpl import user_records

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client

SERVICE: Final = "bars"
CONSUMER_STATE_VERSION: Final = 1
COUNTERS: Final = ("records", "records_skipped", "ticks", "duplicates", "bars_emitted", "amendments",
                   "late_ticks", "too_late_ticks", "quarantined", "invocations", "failures",
                   "checkpoints", "state_bytes", "watermarks", "safety_net_bars")
# bars closed by the safety net's watermark (consumers/bars/watermark_net.py); infra/watermark.tf alarms on it
SAFETY_NET_BARS: Final = "SafetyNetBars"

log = logging.getLogger(__name__)


def shard_of(event: KinesisWindowEvent) -> str:
    """The event's shard id: ``shardId`` (tumbling windows) or the first record's eventID prefix."""
    shard = event.get("shardId")
    if shard:
        return shard
    for rec in event.get("Records") or ():
        return rec["eventID"].split(":", 1)[0]
    return "shardId-unknown"


def _arrival(kinesis: Mapping[str, Any]) -> float:
    """When a stream record reached Kinesis (epoch s): Lambda's ``approximateArrivalTimestamp``,
    or now for an event without one (a hand-made test event, a replay tool)."""
    arrival = kinesis.get("approximateArrivalTimestamp")
    return float(arrival) if isinstance(arrival, int | float) and not isinstance(arrival, bool) else time.time()


class BarsConsumer:
    """The handler's logic with its clients; one per process (Lambda keeps it warm)."""

    def __init__(self, settings: Settings | None = None, *, s3: S3Client | None = None,
                 firehose: FirehoseClient | None = None, kinesis: KinesisClient | None = None,
                 config: BarConfig | None = None, state_budget: int | None = None,
                 metrics: Any = None, logger: Any = None) -> None:
        self.settings = settings or Settings.from_env()
        options = BarsOptions.from_env(state_budget=state_budget)  # TICKPIPE_BARS_*; the keywords win
        self.config = config or options.bar_config(self.settings.session_overrides)
        self.state_budget = options.state_budget
        self._s3, self._firehose, self._kinesis = s3, firehose, kinesis
        self.lake = Lake(self.s3, self.settings.bucket, self.settings.stream)
        self.sink = BarSink(self.firehose, self.settings.bars_firehose)
        self.metrics = metrics
        self.log = logger or log
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._warm: dict[str, tuple[str, BarBuilder, int]] = {}  # shard -> (token, builder, seq)
        # called with the bar lines each time the bars Firehose took them (the demo measures freshness)
        self.on_delivered: Callable[[list[bytes]], None] | None = None

    # clients are made on first use: a cold start that only reads its state pays for one
    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = boto3.client("s3", region_name=self.settings.region)
        return self._s3

    @property
    def firehose(self) -> FirehoseClient:
        if self._firehose is None:
            self._firehose = boto3.client("firehose", region_name=self.settings.region)
        return self._firehose

    @property
    def kinesis(self) -> KinesisClient:
        if self._kinesis is None:
            self._kinesis = boto3.client("kinesis", region_name=self.settings.region)
        return self._kinesis

    # ----- state ------------------------------------------------------------------------------
    def _restore(self, shard: str, state: BarsState) -> tuple[BarBuilder, int]:
        """(builder, last folded sequence number) for the event's state."""
        tok = state.get("tok") if state else None
        warm = self._warm.pop(shard, None)
        if state and "b" in state:
            if warm and warm[0] == tok:
                return warm[1], warm[2]
            return BarBuilder.from_state(state["b"], self.config), int(state["seq"])
        # a new window, a window ended early, or a state too big to carry: the checkpoint
        doc = self.lake.load_checkpoint(shard)
        if doc is not None:
            if warm and warm[0] == doc.get("tok"):
                return warm[1], warm[2]
            return BarBuilder.from_state(doc["b"], self.config), int(doc["seq"])
        return self._from_parents(shard), -1

    def _from_parents(self, shard: str) -> BarBuilder:
        """A shard without a checkpoint: if it was made by resharding, its parents' symbols that
        hash into it carry on here (cumulative volume, open bars, amendable bars)."""
        builder = BarBuilder(self.config)
        try:
            shards = list_shards(self.kinesis, self.settings.stream)
        except AWS_ERRORS as exc:
            raise TransientError(f"listing shards of {self.settings.stream}: {exc}") from exc
        me = next((s for s in shards if s["ShardId"] == shard), None)
        if me is None:
            return builder
        lo, hi = int(me["HashKeyRange"]["StartingHashKey"]), int(me["HashKeyRange"]["EndingHashKey"])
        for parent in (me.get("ParentShardId"), me.get("AdjacentParentShardId")):
            doc = self.lake.load_checkpoint(parent) if parent else None
            if doc is None:
                continue
            other = BarBuilder.from_state(doc["b"], self.config)
            taken = builder.inherit(other, lambda sym: lo <= hash_key(sym) <= hi)
            self.log.info("shard %s inherits %d symbols from parent %s", shard, taken, parent)
        return builder

    def _state_out(self, shard: str, builder: BarBuilder, seq: int, final: bool) -> BarsState:
        tok = f"{seq}:{uuid.uuid4().hex[:12]}"
        inner = builder.to_state()
        body = orjson.dumps({"v": CONSUMER_STATE_VERSION, "seq": str(seq), "tok": tok, "b": inner})
        self.counters["state_bytes"] = len(body)
        spill = len(body) > self.state_budget
        if final or spill:
            self.lake.save_checkpoint(shard, body)
            self.counters["checkpoints"] += 1
            if spill:
                self.log.info("bar state of %s is %d bytes (budget %d): carried in the lake", shard,
                              len(body), self.state_budget)
        self._warm[shard] = (tok, builder, seq)
        if final:
            return {}  # the next window starts from the checkpoint
        if spill:
            return {"v": CONSUMER_STATE_VERSION, "seq": str(seq), "tok": tok, "ref": self.lake.checkpoint_key(shard)}
        return {"v": CONSUMER_STATE_VERSION, "seq": str(seq), "tok": tok, "b": inner}

    # ----- one invocation ---------------------------------------------------------------------
    def handle(self, event: KinesisWindowEvent, context: Any = None) -> WindowResponse:
        records = event.get("Records") or []
        shard = shard_of(event)
        state_in: BarsState = event.get("state") or {}
        final = bool(event.get("isFinalInvokeForWindow"))
        self.counters["invocations"] += 1
        try:
            builder, seq0 = self._restore(shard, state_in)
        except (TransientError, BarStateError) as exc:
            # nothing folded yet: retry the whole batch with the same state
            self.counters["failures"] += 1
            self.log.error("cannot restore bar state of %s: %s", shard, exc)
            return self._failed(records, 0, state_in)
        before = self._snapshot_counts(builder)
        bars, poison, seq = self.fold(builder, records, seq0, shard, until=len(records))
        fail_at = self._write(shard, records, bars, poison)
        if fail_at is not None:
            self._warm.pop(shard, None)
            self.counters["failures"] += 1
            # the state just before the first record whose output did not land: fold again, no I/O
            try:
                redo, _ = self._restore(shard, state_in)
            except (TransientError, BarStateError):
                return self._failed(records, 0, state_in)
            _, _, seq_r = self.fold(redo, records, seq0, shard, until=fail_at)
            redo.take()
            redo.take_too_late()
            try:
                state = self._state_out(shard, redo, seq_r, final=False)  # spills if too big to carry
            except TransientError:
                self._warm.pop(shard, None)
                return self._failed(records, 0, state_in)
            return {"state": state,
                    "batchItemFailures": [{"itemIdentifier": records[fail_at]["kinesis"]["sequenceNumber"]}]}
        try:
            state = self._state_out(shard, builder, seq, final)
        except TransientError as exc:
            self._warm.pop(shard, None)
            self.counters["failures"] += 1
            self.log.error("checkpoint of %s failed: %s", shard, exc)
            if not records:
                raise  # a final invoke with no records: fail it, Lambda invokes it again
            return self._failed(records, 0, state_in)
        self._account(builder, before, records, poison, bars, shard)
        return {"state": state, "batchItemFailures": []}

    @staticmethod
    def _failed(records: list[KinesisEventRecord], index: int, state: BarsState) -> WindowResponse:
        if not records:
            raise TransientError("bar state could not be restored or saved")
        return {"state": state.copy(),
                "batchItemFailures": [{"itemIdentifier": records[index]["kinesis"]["sequenceNumber"]}]}

    def fold(self, builder: BarBuilder, records: list[KinesisEventRecord], seq0: int, shard: str,
              until: int) -> tuple[list[tuple[int, bytes]], list[tuple[int, str, int, bytes, str, str]], int]:
        """Fold records[:until] into ``builder``. Returns (bar lines with their record index,
        quarantine items (record index, seq, sub, data, reason, kind), last sequence folded)."""
        bars: list[tuple[int, bytes]] = []
        poison: list[tuple[int, str, int, bytes, str, str]] = []
        seq = seq0
        b64 = b64decode
        skipped = 0
        for i in range(until):
            kin = records[i]["kinesis"]
            seq_s = kin["sequenceNumber"]
            n = int(seq_s)
            if n <= seq:
                skipped += 1
                continue
            data = b64(kin["data"])
            values = fast_ticks(data, _arrival(kin))  # None for anything else, a watermark among them too
            if values is not None:  # the usual: an aggregate of valid ticks, decoded in one call
                self._folded(builder, values, fold_values(builder, values), None, data, 0, i, seq_s, poison, bars)
                seq = n
                continue
            try:
                users = user_records(data)
            except AggregateError as exc:
                poison.append((i, seq_s, -1, data, str(exc), "poison"))
                seq = n
                continue
            # ticks cannot be from after the record reached the stream (market.tick's plausibility)
            arrival = _arrival(kin)
            if WATERMARK_MARKER in data:  # watermarks among the records: fold the ticks between them in turn
                start = 0
                for j in [k for k, u in enumerate(users) if is_watermark(u)] + [len(users)]:
                    if j > start:
                        self._fold_ticks(builder, users, start, j, i, seq_s, poison, bars, arrival)
                    if j < len(users):
                        self._watermark(builder, users[j], i, seq_s, j, poison, bars)
                    start = j + 1
            else:
                self._fold_ticks(builder, users, 0, len(users), i, seq_s, poison, bars, arrival)
            seq = n
        self.counters["records_skipped"] += skipped
        return bars, poison, seq

    @staticmethod
    def _fold_ticks(builder: BarBuilder, users: list[bytes], lo: int, hi: int, i: int, seq_s: str,
                    poison: list, bars: list, arrival: float) -> None:
        """Parse and fold the user records users[lo:hi] of record ``i`` (arrived at ``arrival``)."""
        part = users[lo:hi] if lo or hi < len(users) else users
        values, bad = parse_ticks(part, arrival)
        for p in bad:
            poison.append((i, seq_s, lo + p.sub, p.data, p.reason, "poison"))
        rejected = fold_values(builder, values, skip=NOT_PARSED)
        BarsConsumer._folded(builder, values, rejected, part, b"", lo, i, seq_s, poison, bars)

    @staticmethod
    def _folded(builder: BarBuilder, values: list, rejected: list[tuple[int, str]], part: list[bytes] | None,
                data: bytes, lo: int, i: int, seq_s: str, poison: list, bars: list) -> None:
        """After a fold: refused and too-late ticks to the quarantine (their bytes: ``part``, or the
        user records of ``data`` when not split yet), emitted bars to ``bars``."""
        if rejected or builder.too_late:
            if part is None:
                part = user_records(data)
            for j, reason in rejected:
                poison.append((i, seq_s, lo + j, part[j], reason, "poison"))
            for t, reason in builder.take_too_late():
                j = next(k for k, v in enumerate(values) if v is t)
                poison.append((i, seq_s, lo + j, part[j], reason, "late"))
        if builder.has_output():
            bars.extend((i, orjson.dumps(b) + b"\n") for b in builder.take())

    @staticmethod
    def _watermark(builder: BarBuilder, data: bytes, i: int, seq_s: str, sub: int, poison: list,
                   bars: list) -> None:
        """A producer's watermark (market.watermark): its symbols' bars now due are emitted."""
        try:
            wm = decode_watermark(data)
        except WatermarkError as exc:
            poison.append((i, seq_s, sub, data, str(exc), "poison"))
            return
        builder.watermark(wm.pid, wm.ts)
        if builder.has_output():
            bars.extend((i, orjson.dumps(b) + b"\n") for b in builder.take())

    def _write(self, shard: str, records: list[KinesisEventRecord], bars: list[tuple[int, bytes]],
               poison: list[tuple[int, str, int, bytes, str, str]]) -> int | None:
        """Quarantine, then bars. Returns the index of the first record whose output did not land."""
        fail_at: int | None = None
        today = dt.datetime.now(dt.UTC).date().isoformat()
        for i, seq_s, sub, data, reason, kind in poison:
            if kind == "poison":
                self.log.warning("quarantined record %s/%s sub %d: %s", shard, seq_s, sub, reason)
            key = self.lake.quarantine_key(today, shard, seq_s, sub, kind)
            try:
                self.lake.quarantine(key, reason=reason, data=data, shard=shard, seq=seq_s, sub=sub)
            except TransientError as exc:
                self.log.error("%s", exc)
                fail_at = i
                break
        if bars:
            lines = [line for i, line in bars if fail_at is None or i < fail_at]
            try:
                self.sink.put(lines)
            except TransientError as exc:
                self.log.error("%s", exc)
                i = bars[exc.index][0]
                fail_at = i if fail_at is None else min(fail_at, i)
            else:
                if self.on_delivered is not None:
                    self.on_delivered(lines)
        return fail_at

    # ----- metrics and logs -------------------------------------------------------------------
    @staticmethod
    def _snapshot_counts(builder: BarBuilder) -> tuple[int, ...]:
        return (builder.ticks, builder.duplicates, builder.late, builder.amended, builder.emitted, builder.watermarks,
                builder.net_closed)

    def _account(self, builder: BarBuilder, before: tuple[int, ...], records: list[KinesisEventRecord],
                 poison: list, bars: list, shard: str) -> None:
        ticks, dups, late, amended, emitted, wms, net = (a - b for a, b in zip(self._snapshot_counts(builder), before,
                                                                        strict=True))
        c = self.counters
        c["records"] += len(records)
        c["ticks"] += ticks
        c["duplicates"] += dups
        c["watermarks"] += wms
        c["safety_net_bars"] += net
        if net:
            self.log.warning("the end-of-session safety net closed %d bars of %s: a producer did not send its "
                             "closing watermark (did it stop early?)", net, shard)
        c["late_ticks"] += late
        c["amendments"] += amended
        c["bars_emitted"] += len(bars)
        quarantined = sum(1 for p in poison if p[5] == "poison")
        too_late = len(poison) - quarantined
        c["quarantined"] += quarantined
        c["too_late_ticks"] += too_late
        lag = time.time() - builder.wm if builder.wm else 0.0
        summary = {"shard": shard, "records": len(records), "ticks": ticks, "bars_emitted": len(bars),
                   "late_ticks": late, "amendments": amended, "duplicates": dups, "quarantined": quarantined,
                   "too_late_ticks": too_late, "watermark_lag_s": round(lag, 3), "state_bytes": c["state_bytes"]}
        # one structured line per invocation in Lambda; debug locally, where the runner calls often
        self.log.log(logging.INFO if self.metrics is not None else logging.DEBUG, "bars invocation",
                     extra=summary)
        if self.metrics is not None:
            from aws_lambda_powertools.metrics import MetricUnit

            m = self.metrics
            m.add_metric(name="TicksProcessed", unit=MetricUnit.Count, value=ticks)
            m.add_metric(name="BarsEmitted", unit=MetricUnit.Count, value=len(bars))
            m.add_metric(name="LateTicks", unit=MetricUnit.Count, value=late)
            m.add_metric(name="Amendments", unit=MetricUnit.Count, value=amended)
            m.add_metric(name="DuplicateTicks", unit=MetricUnit.Count, value=dups)
            m.add_metric(name="QuarantinedRecords", unit=MetricUnit.Count, value=quarantined)
            m.add_metric(name="TooLateTicks", unit=MetricUnit.Count, value=too_late)
            m.add_metric(name="WatermarkLag", unit=MetricUnit.Seconds, value=round(lag, 3))
            m.add_metric(name="StateBytes", unit=MetricUnit.Bytes, value=c["state_bytes"])
            m.add_metric(name="Watermarks", unit=MetricUnit.Count, value=wms)
            m.add_metric(name=SAFETY_NET_BARS, unit=MetricUnit.Count, value=net)

    # ----- end of a session with no later tick -----------------------------------------------
    def flush(self, shard: str, upto_ts: int | None = None) -> int:
        """Close every open bar of ``shard`` (starting before ``upto_ts``), send them and save the
        checkpoint. For the end of a stream (local demo, replays) when no later tick comes."""
        builder, seq = self._restore(shard, {})
        builder.close_all(upto_ts)
        lines = [orjson.dumps(b) + b"\n" for b in builder.take()]
        self.sink.put(lines)
        self._state_out(shard, builder, seq, final=True)
        self.counters["bars_emitted"] += len(lines)
        return len(lines)


_CONSUMER: BarsConsumer | None = None


def _lambda_consumer() -> BarsConsumer:
    global _CONSUMER
    if _CONSUMER is None:
        from aws_lambda_powertools import Logger, Metrics

        _CONSUMER = BarsConsumer(metrics=Metrics(namespace=names.METRIC_NAMESPACE, service=SERVICE),
                                 logger=Logger(service=SERVICE))
        # the layer's accelerator should load; if not, bars are the same, at about half the speed
        _CONSUMER.log.info("bars handler cold start", extra={"native_fold": NATIVE})
    return _CONSUMER


def handler(event: KinesisWindowEvent, context: Any) -> WindowResponse:
    """Lambda entry point (tumbling-window Kinesis event → TimeWindowEventResponse, consumers.bars.events)."""
    consumer = _lambda_consumer()
    try:
        return consumer.handle(event, context)
    finally:
        if consumer.metrics is not None:
            consumer.metrics.flush_metrics()
