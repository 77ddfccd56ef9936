"""Fyers API v3 simulator: REST + data socket on 127.0.0.1, driven by a seeded market model.

    from fyers.sim import Simulator, SimConfig
    with Simulator(SimConfig(seed=7, speed=400)) as sim:
        sim.api_url, sim.ws_url, sim.faults.drop_connections(), sim.candles("NSE:SBIN-EQ")
"""

from fyers.sim.config import SimConfig, SimConfigError
from fyers.sim.simulator import Simulator

__all__ = ["SimConfig", "SimConfigError", "Simulator"]
