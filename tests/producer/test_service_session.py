"""The service follows the NSE calendar on a fake clock: holidays, weekends, special sessions, health."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests

from market.session import IST
from producer.clock import FakeClock
from producer.options import ProducerOptions
from producer.service import Producer, run_producer
from tickpipe.config import Settings


@pytest.fixture
def settings(aws, make_stream):
    stream = make_stream("tickpipe-test-ticks", shards=2)
    aws.client("s3").create_bucket(Bucket="tickpipe-test-lake",
                                   CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    return lambda **kw: Settings(env="test", stream=stream, bucket="tickpipe-test-lake", **kw)


def options(tmp_path, **kw):
    return ProducerOptions(journal_dir=str(tmp_path / "journal"), health_port=-1, metrics_interval=3600, **kw)


def first_sleep(settings, opts, start: dt.datetime, on_sleep=None):
    stop = threading.Event()

    def sleeping(clock, seconds):
        if on_sleep:
            on_sleep(clock, seconds)
        stop.set()

    clock = FakeClock(start.timestamp(), on_sleep=sleeping)
    stats = run_producer(settings, stop=stop, symbols=["NSE:SBIN-EQ"], options=opts, clock=clock)
    when, seconds = clock.sleeps[0]
    return dt.datetime.fromtimestamp(when + seconds, IST), stats


def test_on_a_holiday_it_sleeps_until_the_next_pre_open(settings, tmp_path):
    wake, stats = first_sleep(settings(), options(tmp_path), dt.datetime(2026, 1, 26, 10, 0, tzinfo=IST))
    assert wake == dt.datetime(2026, 1, 27, 9, 0, tzinfo=IST)  # Republic Day → Tuesday, 15 min before 09:15
    assert stats.sessions == 0


def test_after_the_close_it_sleeps_over_the_weekend(settings, tmp_path):
    wake, _ = first_sleep(settings(), options(tmp_path), dt.datetime(2026, 11, 27, 16, 0, tzinfo=IST))
    assert wake == dt.datetime(2026, 11, 30, 9, 0, tzinfo=IST)  # Friday evening → Monday


def test_a_special_session_from_the_override_list_is_followed(settings, tmp_path):
    s = settings(session_overrides="2026-11-08=18:00-19:15")  # Muhurat trading on a Sunday
    wake, _ = first_sleep(s, options(tmp_path, margin_before=600), dt.datetime(2026, 11, 8, 12, 0, tzinfo=IST))
    assert wake == dt.datetime(2026, 11, 8, 17, 50, tzinfo=IST)


def test_a_closure_in_the_override_list_skips_a_weekday(settings, tmp_path):
    s = settings(session_overrides="2026-11-30=closed")
    wake, _ = first_sleep(s, options(tmp_path), dt.datetime(2026, 11, 28, 12, 0, tzinfo=IST))
    assert wake.date() == dt.date(2026, 12, 1)


def test_health_is_ready_while_sleeping_and_names_the_next_session(settings, tmp_path):
    stop, seen = threading.Event(), {}

    def probe(clock, seconds):
        resp = requests.get(producer.health_url, timeout=5)
        seen.update(status=resp.status_code, body=resp.json())
        stop.set()

    clock = FakeClock(dt.datetime(2026, 11, 28, 8, 0, tzinfo=IST).timestamp(), on_sleep=probe)
    producer = Producer(settings(), stop=stop, symbols=["NSE:SBIN-EQ"], clock=clock,
                        options=options(tmp_path).with_(health_port=0))
    producer.run()
    assert seen["status"] == 200
    assert seen["body"]["state"] == "sleeping" and seen["body"]["ready"] is True
    assert seen["body"]["next_session"].startswith("2026-11-30 09:15")
