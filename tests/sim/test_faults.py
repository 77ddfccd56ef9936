"""Faults on demand: each one does what it says, and the simulator carries on afterwards."""

from __future__ import annotations

import pytest
import requests
import websocket

from fyers import codec, errors
from fyers.sim.testing import RawHsmClient

SBIN = "NSE:SBIN-EQ"


@pytest.fixture
def sim(fyers_sim):
    return fyers_sim(speed=400, symbols=[SBIN], ack_count=0)


def _until(client: RawHsmClient, kind: type):
    msg = client.recv()
    while not isinstance(msg, kind):
        msg = client.recv()
    return msg


def _closed(client: RawHsmClient) -> bool:
    """Read until the server ends the connection; True when it did."""
    try:
        while True:
            client.recv_raw()
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return True


def _rest(sim, token=None) -> requests.Response:
    token = token or sim.issue_tokens()["access_token"]
    return requests.get(f"{sim.api_url}/api/v3/marketStatus", timeout=10,
                        headers={"Authorization": f"{sim.config.app_id}:{token}"})


def test_drop_cuts_open_connections_and_new_ones_work(sim):
    token = sim.issue_tokens()["access_token"]
    with RawHsmClient(sim.ws_url) as c:
        c.login(token, [sim.topic(SBIN)])
        _until(c, codec.DataFeed)
        sim.faults.drop_connections()
        assert _closed(c)
    with RawHsmClient(sim.ws_url) as c:
        c.login(token, [sim.topic(SBIN)])
        assert isinstance(_until(c, codec.DataFeed).blocks[0], codec.Snapshot)
    assert sim.stats["dropped_connections"] == 1


def test_stall_silences_the_socket_then_it_catches_up(sim):
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        _until(c, codec.DataFeed)
        sim.faults.stall(1.5)
        c.ws.settimeout(0.5)
        received = []
        with pytest.raises(websocket.WebSocketTimeoutException):
            while True:  # frames already in flight may arrive, then silence: no data, no ping answer
                received.append(c.recv())
                if received[-1] == codec.PING:
                    break
                c.send(codec.PING)
        assert codec.PING not in received
        c.ws.settimeout(10)
        c.send(codec.PING)
        assert _until(c, bytes) == codec.PING  # answered once the stall is over


def test_malformed_frame_is_sent_once_then_data_continues(sim):
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        _until(c, codec.DataFeed)
        sim.faults.malformed_frame()
        bad = 0
        good_after = 0
        while good_after < 3:
            frame = c.recv_raw()
            try:
                msg = codec.decode_server(frame)
            except errors.FrameError:
                bad += 1
                continue
            if bad and isinstance(msg, codec.DataFeed):
                good_after += 1
        assert bad == 1


def test_expired_tokens_end_sessions_and_fail_rest_until_refreshed(sim):
    old = sim.issue_tokens()
    with RawHsmClient(sim.ws_url) as c:
        c.login(old["access_token"], [sim.topic(SBIN)])
        sim.faults.expire_tokens()
        msg = _until(c, codec.Custom)
        assert msg == codec.Custom(errors.TOKEN_EXPIRED, "token expired", 1)
        assert _closed(c)
    resp = _rest(sim, old["access_token"])
    assert resp.status_code == 401 and resp.json()["code"] == errors.TOKEN_EXPIRED
    with RawHsmClient(sim.ws_url) as c:  # an expired token's hsm_key is refused at auth
        assert c.auth(old["access_token"]) == codec.Custom(errors.TOKEN_EXPIRED, "Your token has expired", 1)
        assert c.recv() == codec.AuthResponse(False)
    assert _rest(sim).status_code == 200  # a token issued afterwards works


def test_token_reaching_its_exp_ends_the_socket_session(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], ack_count=0, token_ttl=1.5)
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        assert _until(c, codec.Custom).code == errors.TOKEN_EXPIRED
        assert _closed(c)


def test_refused_auth_gets_a_custom_message_and_a_failed_response(sim):
    token = sim.issue_tokens()["access_token"]
    sim.faults.refuse_auth()
    with RawHsmClient(sim.ws_url) as c:
        msg = c.auth(token)
        assert msg.code == errors.INVALID_TOKEN and msg.ref == 1
        assert c.recv() == codec.AuthResponse(False)
        assert _closed(c)
    sim.faults.refuse_auth(False)
    with RawHsmClient(sim.ws_url) as c:
        assert c.auth(token) == codec.AuthResponse(True, 0)


def test_subscribe_before_auth_is_refused(sim):
    with RawHsmClient(sim.ws_url) as c:
        c.send(codec.encode_subscribe([sim.topic(SBIN)]))
        assert c.recv().code == errors.INVALID_TOKEN
        assert c.recv() == codec.SubscribeResponse(False)


def test_rate_limit_answers_429_for_the_next_n_calls(sim):
    sim.faults.rate_limit(2)
    first, second, third = (_rest(sim) for _ in range(3))
    assert first.status_code == second.status_code == 429
    assert first.json()["code"] == errors.RATE_LIMITED
    assert third.status_code == 200


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_for_the_next_n_calls(sim, status):
    sim.faults.http_5xx(1, status)
    assert _rest(sim).status_code == status
    assert _rest(sim).status_code == 200


def test_reject_answers_the_next_n_calls_with_a_fyers_error_code(sim):
    resp = requests.post(f"{sim.api_url}/_sim/fault", json={"command": "reject -17 2"}, timeout=10)
    assert resp.json()["s"] == "ok"
    first, second, third = (_rest(sim) for _ in range(3))
    assert first.status_code == second.status_code == 400
    assert first.json()["code"] == second.json()["code"] == errors.TOKEN_INVALID_OR_EXPIRED
    assert third.status_code == 200
    with pytest.raises(ValueError, match="negative"):
        sim.faults.reject(17)


def test_faults_by_text_command_on_the_control_endpoint(sim):
    resp = requests.post(f"{sim.api_url}/_sim/fault", json={"command": "ratelimit 1"}, timeout=10)
    assert resp.json()["s"] == "ok"
    assert _rest(sim).status_code == 429
    bad = requests.post(f"{sim.api_url}/_sim/fault", json={"command": "explode"}, timeout=10)
    assert bad.status_code == 400 and "unknown fault" in bad.json()["message"]


def test_more_than_5000_symbols_on_a_connection_get_the_limit_message(sim):
    topics = [f"sf|nse_cm|{100000 + i}" for i in range(5001)]
    with RawHsmClient(sim.ws_url) as c:
        c.auth(sim.issue_tokens()["access_token"])
        for chunk in (topics[:2500], topics[2500:5000]):
            c.send(codec.encode_subscribe(chunk))
            assert c.recv() == codec.SubscribeResponse(True)
        c.send(codec.encode_subscribe(topics[5000:]))
        msg = c.recv()
        assert (msg.code, msg.ref) == (errors.SYMBOL_LIMIT, 4) and "5000" in msg.text
        assert c.recv() == codec.SubscribeResponse(False)


def test_server_waits_for_acks(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], ack_count=2, ack_window=4)
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        c.ws.settimeout(1.0)
        numbers = []
        with pytest.raises(websocket.WebSocketTimeoutException):
            while True:
                msg = c.recv()
                if isinstance(msg, codec.DataFeed):
                    numbers.append(msg.message_number)
        assert numbers == [1, 2, 3, 4]  # then it waits: nothing was acked
        c.ws.settimeout(10)
        c.send(codec.encode_ack(4))
        assert _until(c, codec.DataFeed).message_number == 5
