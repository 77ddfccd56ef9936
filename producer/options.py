"""Producer tuning: ``TICKPIPE_PRODUCER_*`` variables (and ``tickpipe produce`` flags).

Built by the configuration helper (tickpipe/options.py): typed from the annotations, each range
checked however the options are made; a bad value is an :class:`OptionsError` naming the variable.

Shared settings (stream, bucket, SSM prefix, symbols source, endpoints, producer id, session
overrides) come from :class:`tickpipe.config.Settings`; these are the producer's own knobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from market.session import DAY
from producer.aggregator import MAX_RECORD_BYTES, PUT_UNIT_BYTES
from producer.errors import OptionsError
from producer.journal import FSYNC_POLICIES
from tickpipe.options import Options, option

SESSION_MODES = ("calendar", "always")


@dataclass(frozen=True)
class ProducerOptions(Options):
    """Each field is ``TICKPIPE_PRODUCER_<FIELD>``; a flag of ``tickpipe produce`` wins over it."""

    ENV_PREFIX: ClassVar[str] = "TICKPIPE_PRODUCER_"
    ERROR: ClassVar[type[OptionsError]] = OptionsError

    slice: str = ""                      # "K/N": this task's share of the universe
    # flush an aggregated record after this long even if not full
    max_buffer_ms: int = option(100, ge=0, le=60_000, unit="ms")
    # aggregated record budget (data + partition key)
    record_bytes: int = option(PUT_UNIT_BYTES, ge=512, le=MAX_RECORD_BYTES, unit="bytes")
    # SIGTERM → exit within this (ECS stopTimeout defaults to 30 s)
    stop_timeout: float = option(25.0, gt=0, le=3600, unit="seconds")
    health_host: str = "127.0.0.1"       # 0.0.0.0 in the container
    # 0 = any free port, -1 = no health server
    health_port: int = option(8080, ge=0, le=65535, also=(-1,))
    # in session, disconnected longer than this → not ready
    health_grace: float = option(120.0, gt=0, le=DAY, unit="seconds")
    journal_dir: str = "journal"
    journal_max_bytes: int = option(1 << 30, ge=1024, unit="bytes")
    journal_fsync: str = option("interval", choices=FSYNC_POLICIES)
    journal_fsync_interval: float = option(1.0, gt=0, le=3600, unit="seconds")
    # records in memory before spilling to the journal
    max_pending_bytes: int = option(16 << 20, ge=1024, unit="bytes")
    # oldest record waiting this long → spill
    spill_after: float = option(10.0, gt=0, le=3600, unit="seconds")
    # 0 would log and put metrics in a busy loop
    metrics_interval: float = option(60.0, ge=1, le=DAY, unit="seconds")
    # ListShards at least this often
    map_refresh: float = option(60.0, ge=1, le=DAY, unit="seconds")
    # connect this long before the open (pre-open at 09:00)
    margin_before: float = option(900.0, ge=0, le=6 * 3600, unit="seconds")
    # stay this long after the close
    margin_after: float = option(300.0, ge=0, le=6 * 3600, unit="seconds")
    # "always": ignore the calendar (demos, simulator at night)
    session: str = option("calendar", choices=SESSION_MODES)
    mode: str = option("full", choices=("full", "lite"))  # socket mode
    # max seconds between SSM re-reads while the token is bad (0 would re-read in a busy loop)
    token_retry_cap: float = option(60.0, ge=1, le=DAY, unit="seconds")
    # read timeout of one PutRecords call (a hung Kinesis fails it)
    put_timeout: float = option(5.0, gt=0, le=300, unit="seconds")


ENV_VARS: dict[str, str] = ProducerOptions.env_vars()
