"""producer.token_source: the socket's access token from SSM, and what it tells the health check."""

from __future__ import annotations

import threading

import pytest

from producer.errors import TokenUnavailableError
from producer.metrics import Metrics
from producer.token_source import TokenSource


def source(load, stop):
    return TokenSource(load, stop=stop, metrics=Metrics(), retry_base=0.01, retry_cap=0.02, retry_same_after=60)


def test_a_new_token_in_ssm_ends_the_wait_for_a_refused_one():
    answers = iter(["old", "old", "old", "new"])
    src = source(lambda: next(answers), threading.Event())
    assert src() == "old"
    src.failed()  # Fyers refused it
    assert src() == "new" and not src.waiting and not src.refused_in_ssm


def test_ssm_answering_with_the_refused_token_is_a_token_problem_not_a_network_one():
    stop = threading.Event()
    src = source(lambda: "old", stop)
    src()
    src.failed()
    seen = []

    def load():
        seen.append((src.waiting, src.refused_in_ssm))
        if len(seen) > 3:
            stop.set()
        return "old"

    src.load = load
    with pytest.raises(TokenUnavailableError):
        src()
    assert (True, True) in seen  # while it waited: SSM reachable, still the refused token


def test_an_ssm_read_error_is_not_taken_for_a_refused_token():
    stop = threading.Event()
    calls = []

    def load():
        calls.append((src.waiting, src.refused_in_ssm))
        if len(calls) > 3:
            stop.set()
        raise ConnectionError("SSM unreachable")

    src = source(load, stop)
    with pytest.raises(TokenUnavailableError):
        src()
    assert calls[1:] == [(True, False)] * (len(calls) - 1)  # waiting, but not for a refused token
