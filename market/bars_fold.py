"""Folding a batch of decoded ticks into a BarBuilder: the bars handler's hot loop.

``fold_values(builder, values)`` is ``builder.add_fields`` on each tick in turn. When the native
accelerator ``_tickpipe_bars`` is built (native/bars_fold.c, compiled by ``pip install`` and by
``make lambda-layer``), it folds every tick that takes add_fields' fast path, which is nearly every
tick, in C: the same writes to the same Python lists, the fold about twice as fast. Whatever it leaves
(a new bar, a late tick, a duplicate, an emission, a bad value) is folded here by add_fields, so the
Python code in market/bars.py stays the one definition of the bar math; tests/bars/test_bars_fold.py
checks that both ways give the same bars, state and counters.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Final

from market.bars import BarBuilder
from market.errors import TickError
from market.tick import SCHEMA_VERSION

try:
    from _tickpipe_bars import fold as _native_fold
except ModuleNotFoundError:  # not built here (no C compiler at install time): the same result in Python
    _native_fold = None
except ImportError as exc:  # there, but built for another CPU or Python: a packaging mistake to see
    warnings.warn(f"the bars accelerator _tickpipe_bars does not load ({exc}); folding in Python, "
                  "about twice as slow: rebuild it (pip install -e . or make lambda-layer)", RuntimeWarning,
                  stacklevel=1)
    _native_fold = None

NATIVE: Final = _native_fold is not None
# the native fold's actions after the tick it stopped behind
_ADVANCE: Final = 1
_CLOSE: Final = 2


def fold_values(builder: BarBuilder, values: Sequence[Any], skip: Any = None,
                native: bool = True) -> list[tuple[int, str]]:
    """Fold ``values`` (objects with consumers.bars.decode.TickFields' attributes, in stream order;
    those that are ``skip`` are passed over) into ``builder``. Returns (index, reason) of the ticks
    add_fields refused (TickError); every other tick is folded in. ``native=False`` uses Python only."""
    rejected: list[tuple[int, str]] = []
    add = builder.add_fields
    fast = _native_fold if native else None
    if fast is not None and not isinstance(values, list):
        values = list(values)
    n = len(values)
    i = 0
    while i < n:
        if fast is not None:
            i, action = fast(builder, values, i, SCHEMA_VERSION)
            if action == _ADVANCE:
                builder.advance(values[i - 1].sym)
                continue
            if action == _CLOSE:
                builder.close_ended_sessions()
                continue
            if i >= n:
                break
        v = values[i]
        if v is not skip:
            try:
                add(v.sym, v.ts, v.ltt, v.ltp, v.vol, v.atp, v.dh, v.dl, v.oi, v.v, v)
            except TickError as exc:
                rejected.append((i, str(exc)))
        i += 1
    return rejected
