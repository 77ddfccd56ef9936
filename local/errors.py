"""Errors of the local stand-ins and the demo: a moto server, runner, pump or demo option that cannot work."""

from __future__ import annotations

from tickpipe.errors import TickpipeError


class MotoServerError(TickpipeError, RuntimeError):
    """The moto server did not start; the message carries its output."""


class RunnerError(TickpipeError, RuntimeError):
    """A runner setting or stream that cannot work; the message says which."""


class PrefixError(TickpipeError, ValueError):
    """A Firehose prefix expression this stand-in cannot evaluate; the message names it."""


class DemoError(TickpipeError, RuntimeError):
    """The demo could not run (a component failed to start or stopped); the message says which."""


class ScaleError(TickpipeError, ValueError):
    """A scale option that cannot work (a slice beyond one connection's limit, a session cut wrong)."""


class OutageError(TickpipeError, ValueError):
    """An --outage that is not HH:MM-HH:MM inside the session."""
