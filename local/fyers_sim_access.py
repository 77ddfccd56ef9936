"""The Fyers simulator as a history source for one command (``tickpipe backfill --sim``, ``reconcile --sim``).

Starts a simulator on 127.0.0.1 with Fyers' rate limits enforced, and gives a history client
logged in with its test account: no SSM and no AWS needed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from fyers.history import HistoryClient
from fyers.rest import RestClient
from fyers.shared_limiter import FileRateLimiter, default_path
from fyers.sim import SimConfig, Simulator
from fyers.sim.instruments import KNOWN_EQUITIES

# The 20 equities of the simulator's default universe: what `--sim` backfills without --symbols.
SIM_SYMBOLS = tuple(list(KNOWN_EQUITIES)[:20])


@contextlib.contextmanager
def simulated_history(*, seed: int = 1, day: dt.date | None = None,
                      limiter_path: str | None = None) -> Iterator[HistoryClient]:
    # The clock starts after the close: the simulated day (the latest weekday) is complete too.
    config = SimConfig(seed=seed, day=day, speed=1.0, start_time=dt.time(16, 0), rate_limits=True,
                       symbols=list(SIM_SYMBOLS))
    with Simulator(config) as sim:
        token = sim.issue_tokens()["access_token"]
        rest = RestClient(sim.api_url, limiter=FileRateLimiter(limiter_path or default_path()))
        yield HistoryClient(rest, sim.config.app_id, lambda: token)
