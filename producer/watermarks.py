"""The producer's watermarks: every shard it writes to learns how far its feed has got.

A watermark (market.watermark) says "this producer has sent this shard every tick up to feed time
``ts``". The bars consumer moves the watermark of every symbol of that producer on that shard up to
it, so a bar closes at its bucket's end + grace even when its symbol is idle, and the day's last bar
closes without a later tick (docs/bars.md "When a bar is final").

When (:meth:`Watermarks.due`, polled by the pipeline's flush thread every few milliseconds):
- in session: when the feed time (the largest ``ts`` read) has moved ≥ ``every_s`` since the last
  one, to every open shard, whether or not it had ticks;
- after the session's close, once the feed has drained (its ticks reached the close's last second,
  or it has been quiet for ``quiet_s`` wall seconds): ``state`` "closed" with the clock's exchange
  time, every ``every_s``, so the last bucket closes ``grace`` after the close;
- at the end of the session (:meth:`Watermarks.final`, when the producer disconnects).

How (:func:`add_watermark`): the watermark is added to every open shard's aggregator buffer, behind
the ticks that buffer holds, and every buffer is emitted at once: one record per shard, the
watermark riding in the same aggregate as that shard's last ticks (or alone when it had none). So it
reaches Kinesis in the same PutRecords call as those ticks instead of one call behind them (the
sender puts one record per shard per call), and it can never overtake them: everything read
before it is in that record or in the shard's queue ahead of it. The watermark's partition key
hashes into that shard (as the record's ``ExplicitHashKey`` does), so when the sender spills to its
journal the replay routes it back to its shard, still behind its ticks. It counts as no tick.
Sent when due (:meth:`Watermarks.due`) from the socket thread as soon as a tick moves the feed
time, and from the pipeline's flush thread otherwise (after the close, the clock moves it).
At most every ``min_wall_s`` wall seconds (a fast simulated clock would otherwise flush the buffers
too often to aggregate); at 1× the feed-time second is the rule.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from functools import lru_cache

from market.session import NseCalendar, trading_date
from market.watermark import KEY_PREFIX, Watermark

__all__ = ["Watermark", "Watermarks", "add_watermark"]
from producer.aggregator import Aggregator
from producer.clock import Clock
from producer.shards import Shard, ShardMap

EVERY_S = 1.0  # feed seconds between watermarks
MIN_WALL_S = 0.25  # wall seconds between watermarks at least
QUIET_S = 2.0  # wall seconds without a tick after the close: the feed has drained


class Watermarks:
    """Decides when a watermark is due and what it says. Thread-safe enough for one caller."""

    def __init__(self, producer_id: str, clock: Clock, calendar: NseCalendar | None = None, *,
                 every_s: float = EVERY_S, quiet_s: float = QUIET_S, min_wall_s: float = MIN_WALL_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.pid = producer_id
        self.clock = clock
        self.calendar = calendar
        self.every_s = every_s
        self.quiet_s = quiet_s
        self.monotonic = monotonic
        self.min_wall_s = min_wall_s
        self.last_wall = -float("inf")
        self.last_ts = -1
        self.last_state = ""
        self.sent = 0
        self._closes: dict[dt.date, int | None] = {}

    def _close_of(self, now: float) -> int | None:
        """The close of today's session (exchange time ``now``), None without a calendar or session."""
        if self.calendar is None:
            return None
        day = trading_date(now)
        if day not in self._closes:
            session = self.calendar.session(day)
            self._closes[day] = session.close_ts if session else None
        return self._closes[day]

    def due(self, feed_ts: int, last_tick_at: float | None) -> Watermark | None:
        """The watermark to send now, if one is due. ``feed_ts``: the largest ``ts`` read (0: none);
        ``last_tick_at``: monotonic time of the latest tick (None: none yet)."""
        now = self.clock.time()
        close = self._close_of(now)
        state, ts = "open", feed_ts
        if close is not None and now >= close:
            quiet = last_tick_at is None or self.monotonic() - last_tick_at >= self.quiet_s
            if feed_ts >= close - 1 or quiet:  # the post-close drain is over
                state, ts = "closed", max(feed_ts, int(now))
        if ts <= 0 or (ts < self.last_ts + self.every_s and state == self.last_state):
            return None
        if state == self.last_state and self.monotonic() - self.last_wall < self.min_wall_s:
            return None
        return self._take(Watermark(self.pid, ts, state))

    def final(self, feed_ts: int) -> Watermark:
        """The session's last watermark (the producer disconnects): the clock's time or the feed's."""
        return self._take(Watermark(self.pid, max(feed_ts, int(self.clock.time()), self.last_ts), "closed"))

    def _take(self, wm: Watermark) -> Watermark:
        self.last_ts = max(self.last_ts, wm.ts)
        self.last_state = wm.state
        self.last_wall = self.monotonic()
        self.sent += 1
        return Watermark(wm.pid, self.last_ts, wm.state)


def add_watermark(agg: Aggregator, wm: Watermark) -> int:
    """Add ``wm`` behind what every open shard's buffer holds and emit every buffer: each shard gets
    one record ending with the watermark. Returns the shards it went to: none while the shard map is
    not known (the sender is journaling everything for a later replay)."""
    shard_map = agg.shard_map
    if not shard_map.known:
        return 0
    data = wm.encode()
    for shard in shard_map.shards:
        agg.add(routed_key(shard_map, shard, wm.pid), data)  # the key routes it to this shard's buffer
    agg.flush()
    return len(shard_map)


@lru_cache(maxsize=64)
def routed_key(shard_map: ShardMap, shard: Shard, pid: str) -> str:
    """A partition key of the form ``wm:<pid>:<n>`` whose hash falls in ``shard``'s range (a journal
    replay routes records by their key). ~len(shard_map) md5s, once per map."""
    for n in range(1 << 20):
        key = f"{KEY_PREFIX}{pid}:{n}"
        if shard_map.shard_for(key) == shard:
            return key
    raise ValueError(f"no partition key hashes into {shard.shard_id} (a range of {shard.end - shard.start + 1} keys)")
