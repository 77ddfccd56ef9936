"""DataSocket against the Fyers simulator: streaming, every fault, acks, pings, limits."""

from __future__ import annotations

import pytest

from fyers import codec, errors
from fyers.errors import SymbolLimitError, TokenNotFoundError
from fyers.socket import MAX_SYMBOLS, DataSocket, EventKind, subscribe_batches
from market import tick as tickrec

from .conftest import SYMBOLS, wait_for

FAST = {"speed": 120, "snapshot_interval": 1.0}


def test_streams_valid_ticks_for_every_subscribed_symbol(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    h = socket_harness(sim)
    wait_for(lambda: {t["sym"] for t in list(h.ticks)} >= set(SYMBOLS), what="ticks for every symbol")
    for t in list(h.ticks):
        tickrec.validate(t)
        assert t["pid"] == "test" and t["src"] == "ws"
    seqs = [t["seq"] for t in list(h.ticks)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert h.kinds()[:3] == [EventKind.CONNECTED, EventKind.AUTHENTICATED, EventKind.SUBSCRIBED]
    assert all(type(e.kind) is EventKind for e in h.events)  # the producer matches on the enum


def test_prices_match_the_simulated_trades(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    h = socket_harness(sim, ["NSE:SBIN-EQ"])
    h.wait_ticks(20)
    traded = {round(tr.price, 2) for tr in sim.trades("NSE:SBIN-EQ")}
    assert {t["ltp"] for t in list(h.ticks)} <= traded


def test_dropped_connection_reconnects_resubscribes_and_keeps_state(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    h = socket_harness(sim)
    h.wait_event("subscribed")
    h.wait_ticks(10)
    before = h.socket.feed.values(sim.topic("NSE:SBIN-EQ"))
    sim.faults.drop_connections()
    h.wait_event("disconnected")
    h.wait_event("subscribed", 2)
    n = h.tick_count()
    h.wait_ticks(n + 10)
    assert "reconnecting" in h.kinds()
    assert h.socket.stats.connects == 2
    assert {t["sym"] for t in h.ticks[n:]} >= {"NSE:SBIN-EQ"}
    after = h.socket.feed.values(sim.topic("NSE:SBIN-EQ"))
    assert after["prev_close_price"] == before["prev_close_price"]
    assert after["vol_traded_today"] >= before["vol_traded_today"]


def test_stalled_connection_is_detected_and_replaced(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    h = socket_harness(sim, stall_timeout=0.6, ping_interval=0.2)
    h.wait_event("subscribed")
    sim.faults.stall(1.5)
    h.wait_event("disconnected")
    assert any("stalled" in e.detail for e in h.events if e.kind == "disconnected")
    h.wait_event("subscribed", 2)


def test_pings_keep_a_quiet_connection_alive(fyers_sim, socket_harness):
    # A topic the simulator never publishes: only ping answers arrive.
    sim = fyers_sim(**FAST)
    h = socket_harness(sim, ["NSE:SBIN-EQ"], resolve=lambda symbols: {"NSE:SBIN-EQ": "sf|nse_cm|999999"},
                       ping_interval=0.1, stall_timeout=0.5)
    h.wait_event("subscribed")
    wait_for(lambda: h.socket.stats.pings_sent >= 10, what="10 pings")
    assert "disconnected" not in h.kinds() and h.tick_count() == 0


def test_malformed_frame_is_counted_reported_and_not_fatal(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    h = socket_harness(sim)
    h.wait_ticks(5)
    sim.faults.malformed_frame()
    h.wait_event("malformed_frame")
    n = h.tick_count()
    h.wait_ticks(n + 5)
    assert h.socket.stats.malformed_frames == 1
    assert "disconnected" not in h.kinds()
    [event] = [e for e in h.events if e.kind == "malformed_frame"]
    assert "truncated" in event.detail
    assert event.data[2] == codec.T_DATA and len(event.data) > 7  # the bytes, for the quarantine
    assert "1 decoded blocks not forwarded" in event.detail  # the block before the fault is dropped too


def test_token_expiry_mid_session_is_reported_and_a_new_token_is_used(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    tokens = [sim.issue_tokens()["access_token"]]
    h = socket_harness(sim, token=lambda: tokens[-1])
    h.wait_event("subscribed")
    sim.faults.expire_tokens()
    h.wait_event("token_expired")
    assert [e.code for e in h.events if e.kind == "token_expired"][0] == errors.TOKEN_EXPIRED
    tokens.append(sim.issue_tokens()["access_token"])  # what a refresh would store
    h.wait_event("subscribed", 2)
    n = h.tick_count()
    h.wait_ticks(n + 5)


def test_refused_auth_is_reported_and_retried(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    sim.faults.refuse_auth(True)
    h = socket_harness(sim)
    h.wait_event("auth_failed", 2)
    [code, *_] = [e.code for e in h.events if e.kind == "auth_failed"]
    assert code == errors.INVALID_TOKEN
    assert h.tick_count() == 0
    sim.faults.refuse_auth(False)
    h.wait_event("authenticated")
    h.wait_ticks()


def test_failing_token_source_is_reported_and_retried(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    good = sim.issue_tokens()["access_token"]
    calls = []

    def token():
        calls.append(1)
        if len(calls) <= 2:  # the first resolve call and the first connect
            raise TokenNotFoundError("no Fyers token at /tickpipe/test/fyers/token: log in")
        return good

    h = socket_harness(sim, token=token)
    h.wait_event("subscribed")
    assert "auth_failed" in h.kinds()
    h.wait_ticks()


def test_acks_keep_the_server_publishing(fyers_sim, socket_harness):
    # The server stops once 2 messages are unacked: only acking every message keeps data coming.
    sim = fyers_sim(ack_count=1, ack_window=2, max_blocks_per_message=1, **FAST)
    h = socket_harness(sim)
    wait_for(lambda: h.socket.stats.data_messages > 40, what="40 data messages")
    assert h.socket.stats.acks_sent >= 40


def test_lite_mode_updates_only_last_price(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    h = socket_harness(sim, ["NSE:SBIN-EQ"], mode="lite")
    h.wait_ticks(10)
    first = h.ticks[0]
    for t in list(h.ticks)[1:10]:
        assert (t["vol"], t["bid"], t["ts"]) == (first["vol"], first["bid"], first["ts"])


def test_unknown_symbols_are_reported_by_name_and_the_rest_stream(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    h = socket_harness(sim, ["NSE:SBIN-EQ", "NSE:NOSUCH-EQ"])
    h.wait_ticks(3)
    assert h.socket.unresolved == ["NSE:NOSUCH-EQ"]
    assert any("NSE:NOSUCH-EQ" in e.detail for e in h.events if e.kind == "server_message")
    assert {t["sym"] for t in list(h.ticks)} == {"NSE:SBIN-EQ"}


def test_server_symbol_limit_message_is_reported(fyers_sim, socket_harness):
    sim = fyers_sim(max_symbols=2, **FAST)
    h = socket_harness(sim)
    h.wait_event("subscribed")
    [msg] = [e for e in h.events if e.kind == "server_message" and e.code == errors.SYMBOL_LIMIT]
    assert "limit" in msg.detail


def test_more_than_5000_symbols_fail_before_connecting():
    symbols = [f"NSE:S{i}-EQ" for i in range(MAX_SYMBOLS + 1)]
    with pytest.raises(SymbolLimitError, match="5001 symbols"):
        DataSocket("ws://127.0.0.1:9/none", lambda: "", symbols, lambda s: {}, lambda t: None)


def test_5000_symbols_subscribe_in_messages_that_fit():
    topics = [f"sf|nse_cm|{100000 + i}" for i in range(MAX_SYMBOLS)]
    batches = list(subscribe_batches(topics))
    assert sum(batches, []) == topics and len(batches) > 1
    assert all(2 + sum(1 + len(t) for t in b) <= 65535 for b in batches)


def test_5000_symbols_are_all_accepted_by_the_server(fyers_sim, socket_harness):
    sim = fyers_sim(**FAST)
    symbols = [f"NSE:S{i:04d}-EQ" for i in range(MAX_SYMBOLS - 1)] + ["NSE:SBIN-EQ"]
    topics = {s: f"sf|nse_cm|{900000 + i}" for i, s in enumerate(symbols[:-1])}
    topics["NSE:SBIN-EQ"] = sim.topic("NSE:SBIN-EQ")
    h = socket_harness(sim, symbols, resolve=lambda wanted: topics)
    h.wait_event("subscribed")
    assert [e.detail for e in h.events if e.kind == "subscribed"] == ["5000 of 5000 topics"]
    assert not [e for e in h.events if e.kind == "server_message"]
    h.wait_ticks()
