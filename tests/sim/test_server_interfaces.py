"""The simulator's servers see it only through the small interfaces they declare.

fyers/sim/hsm.py types its simulator as ``SocketSim`` and fyers/sim/rest.py as ``RestSim`` (what
each one uses); neither names the ``Simulator`` facade. mypy (``make lint``) checks that the facade
satisfies both where it builds the servers; these tests keep the servers from reaching past them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fyers.sim import hsm, rest

SIM = Path(hsm.__file__).parent


def names_imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


@pytest.mark.parametrize("server", ["hsm.py", "rest.py"])
def test_a_server_does_not_import_the_simulator_facade(server: str) -> None:
    assert not {n for n in names_imported(SIM / server) if n.startswith("fyers.sim.simulator")}


def members(protocol: type) -> set[str]:
    """Its own members and those it takes from fyers.sim.parts.SimParts (what both servers use)."""
    return {n for k in protocol.__mro__ if k.__module__.startswith("fyers.sim") for n in vars(k) if not n.startswith("_")}


@pytest.mark.parametrize(("protocol", "server"), [(hsm.SocketSim, "hsm.py"), (rest.RestSim, "rest.py")])
def test_every_member_of_a_server_interface_is_used_by_that_server(protocol: type, server: str) -> None:
    source = (SIM / server).read_text()
    unused = {m for m in members(protocol) if f"sim.{m}" not in source}
    assert not unused, f"{protocol.__name__} declares members {server} never uses: {sorted(unused)}"


@pytest.mark.parametrize("protocol", [hsm.SocketSim, rest.RestSim])
def test_the_simulator_has_every_member_of_each_server_interface(protocol: type) -> None:
    from fyers.sim.simulator import Simulator

    sim = Simulator(symbols=["NSE:SBIN-EQ"])
    assert all(hasattr(sim, m) for m in members(protocol))
