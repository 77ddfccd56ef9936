"""local/component_metrics.py: CPU per thread and component, and what a metered handler counts."""

from __future__ import annotations

import base64
import threading
import time

import pytest

from local import component_metrics as cm


def test_cpu_seconds_read_past_a_thread_name_with_spaces_and_parentheses():
    fields = ["S"] + ["0"] * 10 + ["250", "50"] + ["0"] * 30
    line = "1234 (odd) name (x) " + " ".join(fields)
    assert cm._cpu_seconds(line) == pytest.approx(300 / cm._TICK)


@pytest.mark.parametrize("name, component", [("fyers-sim-hsm", "simulator"), ("producer-2", "producers"),
                                             ("producer-sender", "producers"), ("fyers-socket", "producers"),
                                             ("bars-runner", "bars runner"), ("firehose-pump", "firehose pump"),
                                             ("MainThread", "other")])
def test_threads_are_grouped_into_components_by_name(name, component):
    assert cm.component_of(name) == component


@pytest.mark.skipif(not cm.ThreadCpu().available, reason="needs Linux /proc")
def test_a_busy_thread_counts_for_its_component():
    meter = cm.ThreadCpu()
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(10_000))

    th = threading.Thread(target=spin, name="bars-runner")
    th.start()
    try:
        deadline = time.monotonic() + 30
        while meter.totals().get("bars runner", 0) < 0.05 and time.monotonic() < deadline:
            time.sleep(0.05)
            meter.sample()
    finally:
        stop.set()
        th.join()
    assert meter.totals()["bars runner"] >= 0.05


def _event(shard: str, seqs: list[int], size: int) -> dict:
    data = base64.b64encode(b"x" * size).decode()
    return {"shardId": shard, "Records": [{"eventID": f"{shard}:{s}", "kinesis": {
        "sequenceNumber": str(s), "data": data, "partitionKey": "NSE:SBIN-EQ"}} for s in seqs]}


def test_a_metered_handler_counts_put_units_once_per_record_and_peak_state_per_shard():
    states = iter([100, 900, 300])
    handler = cm.MeteredHandler(lambda event, context: {"state": {}}, lambda: next(states))
    handler(_event("shardId-0", [1, 2], 25 * 1024 - 11), None)  # data + key = exactly one unit each
    handler(_event("shardId-1", [1], 25 * 1024), None)  # same sequence number, other shard: two units
    handler(_event("shardId-0", [2], 10), None)  # a retried record: not billed again
    assert (handler.records, handler.put_units, handler.invocations) == (3, 4, 3)
    assert handler.peak_state == {"shardId-0": 300, "shardId-1": 900}


def test_rates_and_per_million_figures_are_absent_without_data():
    assert cm.per_million(None, 10) is None and cm.per_million(1.0, 0) is None
    assert cm.per_million(2.0, 1_000_000) == 2.0
    assert cm.rate(100, 0) is None and cm.rate(100, 4) == 25.0
