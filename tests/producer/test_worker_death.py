"""A worker thread that dies stops the producer loudly: unready, everything in memory journalled."""

from __future__ import annotations

import threading
import time

from fyers.token_store import FyersToken, TokenStore
from market.watermark import is_watermark
from producer.journal import Journal
from producer.options import ProducerOptions
from producer.service import Producer
from producer.testing import read_user_records
from tickpipe.config import Settings
from tickpipe.kpl import keyed_records

BUCKET = "tickpipe-test-lake"


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_a_dead_flush_thread_makes_health_unready_and_stops_with_everything_kept(aws, make_stream, fyers_sim,
                                                                                 kinesis, tmp_path):
    sim = fyers_sim(speed=20, snapshot_interval=0.5)
    stream = make_stream("tickpipe-test-ticks", shards=2)
    aws.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    settings = Settings(env="test", stream=stream, bucket=BUCKET, fyers_api_url=sim.api_url, fyers_ws_url=sim.ws_url,
                        producer_id="dying")
    now = int(time.time())
    TokenStore(aws.client("ssm"), settings.ssm_prefix).save(
        FyersToken(sim.issue_tokens()["access_token"], "r", now, now + 86400, now + 15 * 86400))
    stop = threading.Event()
    options = ProducerOptions(journal_dir=str(tmp_path / "journal"), health_port=-1, session="always",
                              metrics_interval=3600, max_buffer_ms=50)
    producer = Producer(settings, stop=stop, symbols=sim.symbols, options=options)
    result = {}
    thread = threading.Thread(target=lambda: result.update(stats=producer.run()), daemon=True)
    thread.start()
    wait_for(lambda: producer.pipeline is not None and producer.pipeline.sender.stats.ticks_sent > 100)

    def broken(now=None):
        raise RuntimeError("injected bug in the flush loop")

    producer.pipeline.aggregator.flush_due = broken  # the flush thread dies at its next round
    thread.join(timeout=60)
    assert not thread.is_alive() and stop.is_set()  # it stopped by itself
    stats = result["stats"]
    assert stats.fatal == "flush thread died: RuntimeError: injected bug in the flush loop"
    status = producer.status()
    assert status["ready"] is False and status["reason"] == stats.fatal
    assert stats.lost_ticks == 0
    journal = Journal(tmp_path / "journal")
    entries, _ = journal.read(max_entries=100_000, max_bytes=1 << 30)
    journal.close()
    kept = sum(1 for e in entries for _, data in keyed_records(e) if not is_watermark(data))  # ticks only
    on_stream = sum(1 for _, _, data in read_user_records(kinesis, stream) if not is_watermark(data))
    assert on_stream == stats.ticks_sent and on_stream + kept == stats.ticks_read
