"""What both of the simulator's servers use of it: its settings, market, clock, credentials and faults.

Each server declares the rest it needs on top (fyers/sim/hsm.py ``SocketSim``, fyers/sim/rest.py
``RestSim``); :class:`fyers.sim.simulator.Simulator` satisfies both (mypy checks it where it builds them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fyers.sim.clock import SimClock
    from fyers.sim.config import SimConfig
    from fyers.sim.credentials import CredentialIssuer
    from fyers.sim.faults import Faults
    from fyers.sim.market import Market


class SimParts(Protocol):
    @property
    def config(self) -> SimConfig: ...
    @property
    def market(self) -> Market: ...
    @property
    def clock(self) -> SimClock: ...
    @property
    def credentials(self) -> CredentialIssuer: ...
    @property
    def faults(self) -> Faults: ...
