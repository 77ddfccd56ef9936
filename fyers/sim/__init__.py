"""Fyers API v3 simulator: REST + data socket on 127.0.0.1, driven by a seeded market model.

    from fyers.sim import Simulator, SimConfig
    with Simulator(SimConfig(seed=7, speed=400)) as sim:
        sim.api_url, sim.ws_url, sim.faults.drop_connections(), sim.candles("NSE:SBIN-EQ")

The simulator restates Fyers' facts on purpose instead of importing them from the client
(``fyers/``): the app id hash, the JWT claims, the history range caps and resolutions, the symbols
per connection, the rate limits, the error codes' meaning. Each is written here from Fyers' own
documentation (shared/FYERS.md), so the client is tested against an independent statement of the
protocol, and a mistake in the client cannot be mirrored by the stand-in it is tested against.
tests/sim/test_restated_facts.py compares the two statements of each fact, so they cannot drift
apart silently. What it does import from the client is vocabulary, not rules: the socket's binary
codec (``fyers.codec``), base64url and a JWT segment's JSON (``fyers.jwt``), the error code numbers
(``fyers.errors``) and symbol naming (``fyers.symbols``); its test helper (``testing.py``) reads
tokens with the client's reader. Units are no Fyers fact: seconds in a day come from ``market.session``.
"""

from fyers.sim.config import SimConfig, SimConfigError
from fyers.sim.simulator import Simulator

__all__ = ["SimConfig", "SimConfigError", "Simulator"]
