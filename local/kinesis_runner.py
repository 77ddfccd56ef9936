"""Lambda's Kinesis event source mapping, on one machine: poll each shard, invoke a handler.

Local-only code (in AWS the event source mapping does this). It reproduces what the handler can
observe of the real thing:

- events shaped exactly like Lambda's (``Records[].kinesis{…}``, ``eventID`` "shardId-…:seq", and
  with a tumbling window ``window``, ``state``, ``shardId``, ``isFinalInvokeForWindow``,
  ``isWindowTerminatedEarly``); records are delivered as stored (KPL aggregates are not opened);
- batch size and batching window; tumbling windows by arrival time, a batch never spanning two, a
  final invocation (no records) when a window ends, state carried from each response to the next;
- a response without ``state`` (with a window) or an exception is a failed invocation: retried with
  the same input state, split in half first when bisect-on-error is on, until maximum retry
  attempts or maximum record age, then discarded (kept in ``discarded``, as an on-failure
  destination would);
- partial batch responses: records before the first reported failure are checkpointed, the retry
  starts at it with the state the response returned; a response naming no record of the batch fails
  the whole batch;
- after resharding a child shard is read only when its parents are finished (parent-before-child);
- per-shard checkpoints (last sequence number), optionally kept in a JSON file across runs.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import boto3

from local.errors import RunnerError
from tickpipe.kinesis import is_open, list_shards

log = logging.getLogger(__name__)

GET_RECORDS_LIMIT: Final = 10_000  # Kinesis GetRecords maximum, also Lambda's largest batch
ACCOUNT: Final = "123456789012"


@dataclass
class RunnerCounters:
    invocations: int = 0
    final_invocations: int = 0
    records_delivered: int = 0
    records_committed: int = 0
    failed_invocations: int = 0
    partial_failures: int = 0
    bisects: int = 0
    discarded_records: int = 0
    shards_finished: int = 0


@dataclass
class _Shard:
    shard_id: str
    parents: tuple[str, ...]
    closed: bool = False  # the stream has an ending sequence number for it (resharded)
    iterator: str | None = None
    checkpoint: str | None = None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    first_buffered_at: float = 0.0
    exhausted: bool = False  # closed and every record fetched
    done: bool = False
    window: tuple[float, float] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    limit: int | None = None  # bisect: the batch is cut to this many records until it succeeds


class _Context:
    """The parts of Lambda's context object handlers commonly read."""

    def __init__(self, function_name: str, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class KinesisRunner:
    """Drive ``handler(event, context)`` from every shard of ``stream_name`` like Lambda does."""

    def __init__(
        self,
        stream_name: str,
        handler: Callable[[dict[str, Any], Any], Any],
        *,
        kinesis: Any = None,
        batch_size: int = 100,
        batching_window_s: float = 0.0,
        tumbling_window_s: float | None = None,
        max_retry_attempts: int = -1,
        max_record_age_s: float = -1,
        bisect_on_error: bool = False,
        report_batch_item_failures: bool = True,
        starting_position: str = "TRIM_HORIZON",
        poll_interval_s: float = 0.2,
        function_name: str = "bars",
        checkpoint_path: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= batch_size <= GET_RECORDS_LIMIT:
            raise RunnerError(f"batch_size must be 1..{GET_RECORDS_LIMIT}, got {batch_size}")
        if tumbling_window_s is not None and not 0 < tumbling_window_s <= 900:
            raise RunnerError(f"tumbling_window_s must be 1..900 s (Lambda's limit), got {tumbling_window_s}")
        if starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise RunnerError(f"starting_position must be TRIM_HORIZON or LATEST, got {starting_position!r}")
        self.stream_name = stream_name
        self.handler = handler
        self.kinesis = kinesis or boto3.client("kinesis")
        self.batch_size = batch_size
        self.batching_window_s = batching_window_s
        self.tumbling_window_s = tumbling_window_s
        self.max_retry_attempts = max_retry_attempts
        self.max_record_age_s = max_record_age_s
        self.bisect_on_error = bisect_on_error
        self.report_batch_item_failures = report_batch_item_failures
        self.starting_position = starting_position
        self.poll_interval_s = poll_interval_s
        self.function_name = function_name
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.clock = clock
        self.counters = RunnerCounters()
        self.discarded: list[dict[str, Any]] = []  # what an on-failure destination would receive
        self.invoked_shards: list[str] = []  # shard of each invocation, in order (for order checks)
        summary = self.kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
        self.stream_arn = summary["StreamARN"]
        self.region = self.stream_arn.split(":")[3]
        self._shards: dict[str, _Shard] = {}
        self._saved = self._load_checkpoints()

    # ----- checkpoints ----------------------------------------------------------------------
    def _load_checkpoints(self) -> dict[str, str]:
        if self.checkpoint_path and self.checkpoint_path.exists():
            return json.loads(self.checkpoint_path.read_text())
        return {}

    def checkpoints(self) -> dict[str, str | None]:
        """Last committed sequence number of each shard (None: nothing committed yet)."""
        return {sid: s.checkpoint for sid, s in self._shards.items()}

    def _commit(self, shard: _Shard, seq: str, count: int) -> None:
        shard.checkpoint = seq
        self.counters.records_committed += count
        if self.checkpoint_path:
            data = {sid: s.checkpoint for sid, s in self._shards.items() if s.checkpoint}
            tmp = self.checkpoint_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(self.checkpoint_path)

    # ----- shards ---------------------------------------------------------------------------
    def _discover(self) -> None:
        for s in list_shards(self.kinesis, self.stream_name):
            sid = s["ShardId"]
            known = self._shards.get(sid)
            closed = not is_open(s)
            if known is None:
                parents = tuple(p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p)
                self._shards[sid] = _Shard(sid, parents, closed=closed, checkpoint=self._saved.get(sid))
            else:
                known.closed = closed

    def _ready(self, shard: _Shard) -> bool:
        """Parent-before-child: a child waits until every parent that still exists is finished."""
        return all(p not in self._shards or self._shards[p].done for p in shard.parents)

    def _iterator(self, shard: _Shard) -> str:
        if shard.checkpoint:
            kw = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": shard.checkpoint}
        elif shard.parents and any(p in self._shards for p in shard.parents):
            kw = {"ShardIteratorType": "TRIM_HORIZON"}  # a child continues where its parents ended
        else:
            kw = {"ShardIteratorType": self.starting_position}
        return self.kinesis.get_shard_iterator(StreamName=self.stream_name, ShardId=shard.shard_id, **kw)[
            "ShardIterator"]

    def _fetch(self, shard: _Shard) -> int:
        if shard.exhausted or len(shard.buffer) >= self.batch_size:
            return 0
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        resp = self.kinesis.get_records(ShardIterator=shard.iterator, Limit=GET_RECORDS_LIMIT)
        got = resp["Records"]
        shard.iterator = resp.get("NextShardIterator")
        if got:
            if not shard.buffer:
                shard.first_buffered_at = self.clock()
            shard.buffer.extend(got)
        elif shard.iterator is None or (shard.closed and resp.get("MillisBehindLatest", 0) == 0):
            shard.exhausted = shard.closed or shard.iterator is None
        return len(got)

    # ----- events ---------------------------------------------------------------------------
    def _record(self, shard: _Shard, r: dict[str, Any]) -> dict[str, Any]:
        arrival = r["ApproximateArrivalTimestamp"]
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": r["PartitionKey"],
                "sequenceNumber": r["SequenceNumber"],
                "data": base64.b64encode(r["Data"]).decode(),
                "approximateArrivalTimestamp": round(arrival.timestamp(), 3),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard.shard_id}:{r['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/{self.function_name}-local",
            "awsRegion": self.region,
            "eventSourceARN": self.stream_arn,
        }

    def _event(self, shard: _Shard, batch: list[dict[str, Any]], *, final: bool = False) -> dict[str, Any]:
        event: dict[str, Any] = {"Records": [self._record(shard, r) for r in batch]}
        if self.tumbling_window_s is not None:
            start, end = shard.window or (0.0, 0.0)
            event.update({
                "window": {"start": _iso(start), "end": _iso(end)},
                "state": shard.state,
                "shardId": shard.shard_id,
                "eventSourceARN": self.stream_arn,
                "isFinalInvokeForWindow": final,
                "isWindowTerminatedEarly": False,
            })
        return event

    def _window_of(self, r: dict[str, Any]) -> tuple[float, float]:
        w = self.tumbling_window_s or 0
        start = r["ApproximateArrivalTimestamp"].timestamp() // w * w
        return (start, start + w)

    def _invoke(self, shard: _Shard, event: dict[str, Any]) -> tuple[Any, BaseException | None]:
        self.counters.invocations += 1
        self.invoked_shards.append(shard.shard_id)
        # Lambda hands the function JSON and reads JSON back: no object is shared between calls
        event = json.loads(json.dumps(event))
        try:
            result = self.handler(event, _Context(self.function_name, 900))
            return json.loads(json.dumps(result)), None
        except Exception as exc:  # noqa: BLE001 - any exception is a function error, as Lambda sees it
            log.warning("handler failed on %s: %s: %s", shard.shard_id, type(exc).__name__, exc)
            return None, exc

    def _final(self, shard: _Shard) -> bool:
        """The window's final invocation (no records). Returns False while it fails (it is retried)."""
        result, error = self._invoke(shard, self._event(shard, [], final=True))
        self.counters.final_invocations += 1
        if error is not None or not isinstance(result, dict) or "state" not in result:
            self.counters.failed_invocations += 1
            return False
        shard.window = None
        shard.state = {}
        return True

    def _deliver(self, shard: _Shard, force: bool) -> bool:
        """Invoke for the shard's buffered records if a batch is due. Returns whether it invoked."""
        now = self.clock()
        if not shard.buffer:
            return False
        due = (force or len(shard.buffer) >= self.batch_size or shard.exhausted
               or now - shard.first_buffered_at >= self.batching_window_s)
        if not due:
            return False
        size = min(self.batch_size, shard.limit or self.batch_size)
        batch = shard.buffer[:size]
        if self.tumbling_window_s is not None:
            win = self._window_of(batch[0])
            if shard.window is not None and shard.window != win:
                return self._final(shard) or True
            shard.window = win
            batch = [r for r in batch if r["ApproximateArrivalTimestamp"].timestamp() < win[1]]
        if self._too_old(batch, now) or (0 <= self.max_retry_attempts < shard.attempts):
            self._discard(shard, batch, "record age" if self._too_old(batch, now) else "retry attempts")
            return True
        event = self._event(shard, batch)
        self.counters.records_delivered += len(batch)
        result, error = self._invoke(shard, event)
        if error is None and self.tumbling_window_s is not None and (
                not isinstance(result, dict) or "state" not in result):
            error = RunnerError("response has no 'state' (required with a tumbling window)")
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if error is None and failures and self.report_batch_item_failures:
            ident = failures[0].get("itemIdentifier") if isinstance(failures[0], dict) else None
            seqs = [r["SequenceNumber"] for r in batch]
            first = min((seqs.index(f.get("itemIdentifier")) for f in failures
                         if isinstance(f, dict) and f.get("itemIdentifier") in seqs), default=None)
            if ident is None or first is None:
                error = RunnerError(f"batchItemFailures names no record of the batch: {failures!r}")
            else:
                self.counters.partial_failures += 1
                if first:
                    self._commit(shard, seqs[first - 1], first)
                    del shard.buffer[:first]
                shard.state = result.get("state", shard.state) if self.tumbling_window_s is not None else {}
                shard.attempts += 1
                return True
        if error is not None:
            self.counters.failed_invocations += 1
            shard.attempts += 1
            if self.bisect_on_error and len(batch) > 1:
                shard.limit = max(1, len(batch) // 2)
                self.counters.bisects += 1
            return True
        # success
        self._commit(shard, batch[-1]["SequenceNumber"], len(batch))
        del shard.buffer[:len(batch)]
        if self.tumbling_window_s is not None:
            shard.state = result["state"]
        shard.attempts = 0
        shard.limit = None
        if not shard.buffer:
            shard.first_buffered_at = 0.0
        return True

    def _too_old(self, batch: list[dict[str, Any]], now: float) -> bool:
        if self.max_record_age_s < 0 or not batch:
            return False
        return now - batch[0]["ApproximateArrivalTimestamp"].timestamp() > self.max_record_age_s

    def _discard(self, shard: _Shard, batch: list[dict[str, Any]], why: str) -> None:
        log.error("discarding %d records of %s after %s (first %s)", len(batch), shard.shard_id, why,
                  batch[0]["SequenceNumber"])
        self.discarded.append({"shardId": shard.shard_id, "reason": why,
                               "startSequenceNumber": batch[0]["SequenceNumber"],
                               "endSequenceNumber": batch[-1]["SequenceNumber"], "batchSize": len(batch)})
        self.counters.discarded_records += len(batch)
        self._commit(shard, batch[-1]["SequenceNumber"], 0)
        del shard.buffer[:len(batch)]
        shard.attempts = 0
        shard.limit = None

    # ----- driving --------------------------------------------------------------------------
    def step(self, *, force: bool = False, finish_windows: bool = False) -> int:
        """One pass over every ready shard: fetch, invoke when due. Returns the work done (records
        fetched + invocations); 0 means idle."""
        self._discover()
        work = 0
        now = self.clock()
        for shard in list(self._shards.values()):
            if shard.done or not self._ready(shard):
                continue
            work += self._fetch(shard)
            if self._deliver(shard, force):
                work += 1
            if self.tumbling_window_s is not None and shard.window is not None and not shard.buffer and (
                    finish_windows or shard.exhausted or now >= shard.window[1]):
                work += 1
                self._final(shard)
            if shard.exhausted and not shard.buffer and shard.window is None:
                shard.done = True
                self.counters.shards_finished += 1
                work += 1
        return work

    def drain(self, until_idle: bool = True, *, finish_windows: bool = True, max_steps: int = 100_000) -> RunnerCounters:
        """Deliver everything in the stream now, then (``finish_windows``) end the open windows as
        their time running out would. Returns the counters."""
        for _ in range(max_steps):
            if self.step(force=True) or not until_idle:
                continue
            if not finish_windows or all(s.window is None for s in self._shards.values()):
                break
            self.step(force=True, finish_windows=True)  # a failed final invoke is tried again
        return self.counters

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set (for a thread)."""
        while not stop.is_set():
            try:
                work = self.step()
            except Exception:  # a poll that failed (e.g. moto restarting) is retried after a pause
                log.exception("kinesis runner poll failed")
                work = 0
            if not work:
                stop.wait(self.poll_interval_s)
