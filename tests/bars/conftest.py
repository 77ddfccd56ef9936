"""Fixtures of the bars tests; puts this folder's helpers (bars_reference, bars_stream) on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
