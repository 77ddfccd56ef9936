"""Producer tuning: ``TICKPIPE_PRODUCER_*`` variables (and ``tickpipe produce`` flags).

Shared settings (stream, bucket, SSM prefix, symbols source, endpoints, producer id, session
overrides) come from :class:`tickpipe.config.Settings`; these are the producer's own knobs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from producer.aggregator import MAX_RECORD_BYTES, PUT_UNIT_BYTES
from producer.errors import OptionsError
from producer.journal import FSYNC_POLICIES

SESSION_MODES = ("calendar", "always")


@dataclass(frozen=True)
class ProducerOptions:
    slice: str = ""                      # "K/N": this task's share of the universe
    max_buffer_ms: int = 100             # flush an aggregated record after this long even if not full
    record_bytes: int = PUT_UNIT_BYTES   # aggregated record budget (data + partition key)
    stop_timeout: float = 25.0           # SIGTERM → exit within this (ECS stopTimeout defaults to 30 s)
    health_host: str = "127.0.0.1"       # 0.0.0.0 in the container
    health_port: int = 8080              # 0 = any free port, -1 = no health server
    health_grace: float = 120.0          # in session, disconnected longer than this → not ready
    journal_dir: str = "journal"
    journal_max_bytes: int = 1 << 30
    journal_fsync: str = "interval"
    journal_fsync_interval: float = 1.0
    max_pending_bytes: int = 16 << 20    # records in memory before spilling to the journal
    spill_after: float = 10.0            # oldest record waiting this long → spill
    metrics_interval: float = 60.0
    map_refresh: float = 60.0            # ListShards at least this often
    margin_before: float = 900.0         # connect this long before the open (pre-open at 09:00)
    margin_after: float = 300.0          # stay this long after the close
    session: str = "calendar"            # "always": ignore the calendar (demos, simulator at night)
    mode: str = "full"                   # socket mode: full or lite
    token_retry_cap: float = 60.0        # max seconds between SSM re-reads while the token is bad
    put_timeout: float = 5.0             # read timeout of one PutRecords call (a hung Kinesis fails it)

    def __post_init__(self) -> None:
        if not 512 <= self.record_bytes <= MAX_RECORD_BYTES:
            raise OptionsError(f"TICKPIPE_PRODUCER_RECORD_BYTES must be 512..{MAX_RECORD_BYTES}, got {self.record_bytes}")
        if self.journal_fsync not in FSYNC_POLICIES:
            raise OptionsError(f"TICKPIPE_PRODUCER_JOURNAL_FSYNC must be one of {FSYNC_POLICIES}, "
                               f"got {self.journal_fsync!r}")
        if self.session not in SESSION_MODES:
            raise OptionsError(f"TICKPIPE_PRODUCER_SESSION must be one of {SESSION_MODES}, got {self.session!r}")
        if self.mode not in ("full", "lite"):
            raise OptionsError(f"TICKPIPE_PRODUCER_MODE must be 'full' or 'lite', got {self.mode!r}")
        if not 0 < self.put_timeout <= 300:  # also rejects NaN
            raise OptionsError(f"TICKPIPE_PRODUCER_PUT_TIMEOUT must be in (0, 300] seconds, got {self.put_timeout}")
        if self.max_buffer_ms < 0 or self.stop_timeout <= 0:
            raise OptionsError("TICKPIPE_PRODUCER_MAX_BUFFER_MS must be >= 0 and TICKPIPE_PRODUCER_STOP_TIMEOUT > 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ProducerOptions:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_VARS[f.name])
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls, f.name))
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise OptionsError(f"{ENV_VARS[f.name]} must be {kind.__name__}, got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> ProducerOptions:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


ENV_VARS: dict[str, str] = {f.name: f"TICKPIPE_PRODUCER_{f.name.upper()}" for f in fields(ProducerOptions)}
