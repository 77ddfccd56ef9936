"""The producer's symbol universe: tickpipe/universe.py (in the base package, so the reconcile
Lambda reads the same universe with the same code). Re-exported here for the producer's modules."""

from tickpipe.universe import (  # noqa: F401 - re-exports
    UniverseError,
    load_universe,
    load_universes,
    parse_slice,
    parse_symbols,
    read_source,
    slice_of,
    take_slice,
)
