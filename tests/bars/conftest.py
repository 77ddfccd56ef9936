"""Fixtures of the bars tests; puts this folder's helpers (bars_reference, bars_stream) on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


import pytest  # noqa: E402

from local.provision import provision  # noqa: E402
from tickpipe.config import Settings  # noqa: E402


@pytest.fixture
def lake(aws):
    """An empty account with the stream (1 shard), both delivery streams and the lake bucket."""
    settings = Settings.from_env()
    provision(settings, shards=1)
    return settings
