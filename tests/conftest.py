"""Shared fixtures: one moto server per test session on 127.0.0.1, reset between tests that ask.
Puts tests/support (helpers for tests in more than one folder) on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest

from local.moto_server import MotoServer, patched_environ

SUPPORT = str(Path(__file__).with_name("support"))
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)

pytest_plugins = ["fyers.sim.testing"]  # the `fyers_sim` fixture factory


@pytest.fixture(scope="session")
def moto_server():
    """A running moto server; AWS_ENDPOINT_URL and fake credentials are set for the whole session."""
    with MotoServer() as server, patched_environ(server.environ()):
        yield server


@pytest.fixture
def aws(moto_server):
    """An empty AWS account on the moto server for one test; yields a boto3 Session."""
    moto_server.reset()
    yield boto3.session.Session(region_name=moto_server.region)
