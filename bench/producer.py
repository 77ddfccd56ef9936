"""Producer: socket frames → fyers.feed → shard-aware aggregation → PutRecords on an in-process fake sink.

Figures, all measured in this run:
- throughput (ticks per CPU-second of the whole process, all threads: one core's worth; the best of
  ROUNDS runs) from data frames to accepted PutRecords,
  target >= 100,000 ticks/s; beside it aws-kinesis-agg's RecordAggregator on the same ticks (the
  aggregation step alone), the baseline that our direct protobuf writer replaces;
- fill of the aggregated records (of a 25 KiB PUT payload unit) at that rate, target >= 90 %;
- added latency (frame received → record accepted) at 1,000 ticks/s, target p99 <= buffer + 20 ms;
- API calls and PUT payload units per million ticks against the naive design (one PutRecord per tick).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import orjson

from bench._frames import make_frames as synthetic_frames
from fyers.feed import Feed
from producer.aggregator import PUT_UNIT_BYTES
from producer.metrics import Metrics
from producer.pipeline import Pipeline
from producer.shards import Shard, ShardMap
from tickpipe.kinesis import HASH_KEY_MAX
from tickpipe.kpl import keyed_records

TOPICS = 1000
BLOCKS = 100  # updates per data frame
FRAMES = 3000  # 300,000 ticks
SHARDS = 4
BUFFER_MS = 100
TARGET_RATE = 100_000
LATENCY_RATE = 1_000
ROUNDS = 3
LATENCY_SECONDS = 5.0


def shard_map(n: int = SHARDS) -> ShardMap:
    step = (HASH_KEY_MAX + 1) // n
    return ShardMap(Shard(f"shardId-{i:012d}", i * step, HASH_KEY_MAX if i == n - 1 else (i + 1) * step - 1)
                    for i in range(n))


class FakeSink:
    """Accepts every PutRecords call in memory and answers like Kinesis; optionally times each user record."""

    def __init__(self, shards: ShardMap, measure_latency: bool = False) -> None:
        self.shards = shards
        self.calls = self.records = self.bytes = self.units = 0
        self.measure_latency = measure_latency
        self.latencies_ms: list[float] = []
        self.lock = threading.Lock()

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        now_ms = time.time() * 1000
        out = []
        for r in Records:
            size = len(r["Data"]) + len(r["PartitionKey"])
            self.bytes += size
            self.units += -(-size // PUT_UNIT_BYTES)
            out.append({"SequenceNumber": "1", "ShardId": self.shards.shard_for_hash(int(r["ExplicitHashKey"])).shard_id})
            if self.measure_latency:
                for _, data in keyed_records(r["Data"]):
                    self.latencies_ms.append(now_ms - orjson.loads(data)["rx"])
        self.calls += 1
        self.records += len(Records)
        return {"FailedRecordCount": 0, "Records": out}


def make_frames(frames: int, blocks: int, seed: int = 11) -> tuple[dict[str, str], bytes, list[bytes]]:
    return synthetic_frames(frames, topics=TOPICS, blocks=blocks, seed=seed)


def run_pipeline(sink: FakeSink, topics: dict[str, str], snapshot: bytes, frames: list[bytes],
                 pace: float | None = None, decoded: list[list[dict[str, Any]]] | None = None,
                 ) -> tuple[float, float, Pipeline]:
    """Feed every frame through Feed → Pipeline (or ``decoded`` ticks straight into the Pipeline);
    returns (wall s, cpu s, pipeline) once Kinesis (the sink) has accepted everything."""
    pipeline = Pipeline(sink, "bench", journal=None, metrics=Metrics(), shard_map=sink.shards,
                        max_buffer_ms=BUFFER_MS, map_refresh=3600).start()
    feed = Feed(topics, "bench")
    feed.on_frame(snapshot, int(time.time() * 1000))  # binds topics; not counted
    sent_before = pipeline.sender.stats.ticks_sent
    total = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i, frame in enumerate(decoded or frames):
        if pace:
            delay = t0 + i * pace - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        ticks = frame if decoded else feed.on_frame(frame, int(time.time() * 1000))
        total += len(ticks)
        pipeline.on_ticks(ticks)
    while pipeline.sender.stats.ticks_sent - sent_before < total:
        time.sleep(0.001)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    pipeline.stop(5)
    return wall, cpu, pipeline


def kpl_baseline(ticks: list[dict[str, Any]]) -> float:
    """aws-kinesis-agg's RecordAggregator on the same ticks: ticks/s for aggregation alone."""
    from aws_kinesis_agg.aggregator import RecordAggregator

    agg = RecordAggregator(max_size=PUT_UNIT_BYTES)
    t0 = time.process_time()
    for t in ticks:
        agg.add_user_record(t["sym"], orjson.dumps(t) + b"\n")
    agg.clear_and_get()
    return len(ticks) / (time.process_time() - t0)


def ours_aggregation_only(ticks: list[dict[str, Any]]) -> float:
    from producer.aggregator import Aggregator

    agg = Aggregator(shard_map(), lambda rec: None)
    t0 = time.process_time()
    agg.add_ticks(ticks)
    agg.flush()
    return len(ticks) / (time.process_time() - t0)


def main() -> None:
    topics, snapshot, frames = make_frames(FRAMES, BLOCKS)
    # the best of a few rounds: this machine's speed drifts by up to 2x over tens of seconds
    best = None
    for _ in range(ROUNDS):
        run_sink = FakeSink(shard_map())
        wall, cpu, pipeline = run_pipeline(run_sink, topics, snapshot, frames)
        if best is None or cpu < best[1]:
            best, sink = (wall, cpu, pipeline), run_sink
    wall, cpu, pipeline = best
    ticks = pipeline.sender.stats.ticks_sent
    rate = ticks / wall
    fill = 100.0 * sink.bytes / (sink.units * PUT_UNIT_BYTES)

    sample_feed = Feed(topics, "bench")
    sample_feed.on_frame(snapshot, 0)
    c0 = time.process_time()
    decoded = [sample_feed.on_frame(f, 0) for f in frames]
    feed_rate = sum(map(len, decoded)) / (time.process_time() - c0)
    sample = [t for batch in decoded[:500] for t in batch]
    _, own_cpu, own = run_pipeline(FakeSink(shard_map()), topics, snapshot, frames, decoded=decoded)
    own_rate = own.sender.stats.ticks_sent / own_cpu
    kpl, ours_agg = kpl_baseline(sample), ours_aggregation_only(sample)

    per_frame = LATENCY_RATE // 100  # 10 ticks per frame, one frame every 10 ms
    _, _, lat_frames = make_frames(int(LATENCY_RATE * LATENCY_SECONDS / per_frame), per_frame, seed=12)
    lat_sink = FakeSink(shard_map(), measure_latency=True)
    run_pipeline(lat_sink, topics, snapshot, lat_frames, pace=per_frame / LATENCY_RATE)
    lat = sorted(lat_sink.latencies_ms)
    p50, p99 = statistics.median(lat), lat[int(0.99 * (len(lat) - 1))]

    print(f"   frames → PutRecords (fake sink, {SHARDS} shards): {ticks / cpu:,.0f} ticks per CPU-second "
          f"({ticks / cpu / TARGET_RATE:.2f}x the 100,000 target; {rate:,.0f} ticks/s wall on this machine's load)")
    print(f"   where the time goes: fyers.feed decode alone {feed_rate:,.0f}, the producer alone (ticks → aggregation "
          f"→ PutRecords) {own_rate:,.0f} ticks per CPU-second")
    print(f"   aggregation alone (orjson + KPL records): ours {ours_agg:,.0f} vs aws-kinesis-agg RecordAggregator "
          f"{kpl:,.0f} ticks per CPU-second ({ours_agg / kpl:.1f}x)")
    print(f"   record fill at that rate: {fill:.1f}% of the PUT payload units billed (target >= 90%); "
          f"{sink.records:,} records, {ticks / sink.records:.0f} ticks each")
    print(f"   added latency at {LATENCY_RATE:,} ticks/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms "
          f"(target p99 <= {BUFFER_MS + 20} ms = buffer {BUFFER_MS} + 20)")
    calls_m, units_m = sink.calls / ticks * 1e6, sink.units / ticks * 1e6
    print(f"   per million ticks: {calls_m:,.0f} PutRecords calls and {units_m:,.0f} PUT units vs naive PutRecord "
          f"per tick 1,000,000 calls and 1,000,000 units ({1e6 / calls_m:,.0f}x fewer calls, "
          f"{1e6 / units_m:,.0f}x fewer units)")


if __name__ == "__main__":
    main()
