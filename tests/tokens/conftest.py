"""Puts this folder's helpers (login_helpers) on sys.path, as tests/bars/conftest.py does."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
