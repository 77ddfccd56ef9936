"""The server's frames, read by hand against the layout in FYERS.md (not through the codec's decoder)."""

from __future__ import annotations

import datetime as dt
import struct

from fyers import codec
from fyers.sim.testing import RawHsmClient, hsm_key_of

SBIN = "NSE:SBIN-EQ"


def test_frames_follow_the_documented_layout(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], ack_count=3, start_time=dt.time(9, 0), hold_clock=True)
    with RawHsmClient(sim.ws_url) as c:
        c.send(codec.encode_auth(hsm_key_of(sim.issue_tokens()["access_token"])))
        auth = c.recv_raw()
        # auth response: type 1, 2 fields; field 1 = "K", field 2 = uint32 ack count
        assert auth[2] == 1 and auth[3] == 2
        assert auth[4:8] == b"\x01\x00\x01K" and auth[8:11] == b"\x02\x00\x04"
        assert struct.unpack(">I", auth[11:15])[0] == 3
        c.send(codec.encode_subscribe([sim.topic(SBIN)]))
        sub = c.recv_raw()
        assert sub[2] == 4 and sub[7:8] == b"K"  # the status byte at offset 7
        data = c.recv_raw()
    # data feed: type 6, uint32 message number at 3, uint16 block count at 7, blocks from 9
    assert data[2] == 6
    assert struct.unpack(">I", data[3:7])[0] == 1 and struct.unpack(">H", data[7:9])[0] == 1
    assert data[9] == 83  # snapshot
    topic_id = struct.unpack("<H", data[10:12])[0]  # little-endian topic id
    n = data[12]
    assert (topic_id, data[13:13 + n]) == (0, b"sf|nse_cm|3045")
    pos = 13 + n
    count = data[pos]
    values = struct.unpack(f">{count}i", data[pos + 1:pos + 1 + 4 * count])
    pos += 1 + 4 * count + 2  # two skipped bytes
    multiplier, precision = struct.unpack(">HB", data[pos:pos + 3])
    pos += 3
    strings = []
    for _ in range(3):
        strings.append(data[pos + 1:pos + 1 + data[pos]].decode())
        pos += 1 + data[pos]
    assert pos == len(data)
    assert (count, multiplier, precision, strings) == (21, 1, 2, ["NSE", "3045", SBIN])
    pc = sim.market.instruments[SBIN].prev_close
    # Before the open: previous close, no volume, the previous session's last traded time.
    assert values[0] == values[20] == pc and values[1] == 0
    assert values[3] == sim.market.session.open_ts - 15 * 60


def test_the_opening_update_carries_the_preopen_volume(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], ack_count=0, start_time=dt.time(9, 0), hold_clock=True,
                    every_trade=True)
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        msg = c.recv()
        while not (isinstance(msg, codec.DataFeed) and isinstance(msg.blocks[0], codec.FullUpdate)):
            msg = c.recv()
    first = msg.blocks[0].values
    opening = sim.trades(SBIN)[0]
    assert first[1] == opening.qty > 0  # cumulative volume = the auction's volume
    assert first[2] == sim.market.session.open_ts and first[8] == opening.qty
