"""The data socket speaks the Fyers HSM protocol byte for byte (driven with the codec's encoders)."""

from __future__ import annotations

import pytest
import websocket

from fyers import codec, errors
from fyers.sim.testing import RawHsmClient, hsm_key_of

SBIN, NIFTY = "NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"


@pytest.fixture
def sim(fyers_sim):
    return fyers_sim(speed=400, symbols=[SBIN, NIFTY, "NSE:INFY-EQ"], ack_count=0)


def _data(client: RawHsmClient, n: int) -> list[codec.DataFeed]:
    out = []
    while len(out) < n:
        msg = client.recv()
        if isinstance(msg, codec.DataFeed):
            out.append(msg)
    return out


def test_auth_mode_subscribe_are_answered_ok(sim):
    with RawHsmClient(sim.ws_url) as c:
        auth, mode, sub = c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
    assert auth == codec.AuthResponse(True, 0)
    assert mode == codec.ModeResponse(True)
    assert sub == codec.SubscribeResponse(True, False)


def test_auth_response_asks_for_acks(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], ack_count=7)
    with RawHsmClient(sim.ws_url) as c:
        assert c.auth(sim.issue_tokens()["access_token"]) == codec.AuthResponse(True, 7)


def test_client_length_prefix_is_ignored(sim):
    """The SDK sends some messages with a length prefix of 0; the server parses by fields."""
    token = sim.issue_tokens()["access_token"]
    with RawHsmClient(sim.ws_url) as c:
        c.send(b"\x00\x00" + codec.encode_auth(hsm_key_of(token))[2:])
        assert c.recv() == codec.AuthResponse(True, 0)
        c.send(b"\x00\x00" + codec.encode_subscribe([sim.topic(SBIN)])[2:])
        assert c.recv() == codec.SubscribeResponse(True)


def test_first_block_per_topic_is_a_snapshot_with_its_identity(sim):
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN), sim.topic(NIFTY)])
        [first] = _data(c, 1)
    snaps = {b.topic: b for b in first.blocks}
    sbin = snaps["sf|nse_cm|3045"]
    assert (sbin.exchange, sbin.token, sbin.symbol, sbin.multiplier, sbin.precision) == ("NSE", "3045", SBIN, 1, 2)
    assert len(sbin.values) == len(codec.SCRIP_FIELDS)
    assert len(snaps["if|nse_cm|Nifty 50"].values) == len(codec.INDEX_FIELDS)
    assert first.message_number == 1


def test_updates_send_only_changed_values(sim):
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        msgs = _data(c, 6)
    state = list(msgs[0].blocks[0].values)
    unchanged_seen = False
    for msg in msgs[1:]:
        for block in msg.blocks:
            assert isinstance(block, codec.FullUpdate)
            for j, v in enumerate(block.values):
                if v == codec.NO_VALUE:
                    unchanged_seen = True
                else:
                    assert v != state[j], f"field {codec.SCRIP_FIELDS[j]} sent although unchanged"
                    state[j] = v
    assert unchanged_seen
    assert [m.message_number for m in msgs] == list(range(1, 7))


def test_lite_mode_sends_ltp_updates(sim):
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)], full=False)
        msgs = _data(c, 4)
    assert isinstance(msgs[0].blocks[0], codec.Snapshot)
    updates = [b for m in msgs[1:] for b in m.blocks]
    assert updates and all(isinstance(b, codec.LiteUpdate) for b in updates)


def test_ping_is_answered(sim):
    with RawHsmClient(sim.ws_url) as c:
        c.send(codec.PING)
        assert c.recv() == codec.PING


def test_unknown_path_is_refused(sim):
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(sim.ws_url.replace("/hsm/v1-5/prod", "/nope"), timeout=5)


def test_bad_hsm_key_gets_custom_message_then_failed_auth(sim):
    with RawHsmClient(sim.ws_url) as c:
        c.send(codec.encode_auth("not-a-key"))
        assert c.recv().code == errors.INVALID_TOKEN
        assert c.recv() == codec.AuthResponse(False, 0)
