"""Bar freshness at 1× speed: wall time from a bucket's end to its bar reaching the bars Firehose.

Two short windows of the local pipeline (local/demo.py: simulator → producer → Kinesis on moto →
the bars handler under the local poller → Firehose), at the exchange's own speed:
- mid-session: the clock starts 20 s before 12:00:00 IST and the producer stops 15 s after it,
  so the 11:55 bars close (every symbol, idle ones too) by the producer's watermarks;
- the close: the clock starts 20 s before 15:30:00, so the day's last bar (15:25) closes by the
  watermarks the producer sends once its feed has drained after the close.
The local poller's batching window is the one Terraform gives the bars event source
(``bars_batching_window_seconds``, read from infra/variables.tf). Target: p99 ≤ grace + 1 s of wall
time. Lambda polls a shard about once a second, which AWS adds (docs/bars.md "Freshness").
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from pathlib import Path

import hcl2

from consumers.bars.options import BarsOptions
from local.demo import DemoOptions, run_demo
from local.freshness import describe

INFRA_VARIABLES = Path(__file__).resolve().parent.parent / "infra" / "variables.tf"
WINDOWS = {"mid-session (11:55 bars)": (dt.time(11, 59, 40), dt.time(12, 0, 15)),
           "the close (15:25 bars, the day's last)": (dt.time(15, 29, 40), None)}
SYMBOLS = 20


def terraform_batching_window() -> float:
    """The default of infra/variables.tf's bars_batching_window_seconds."""
    with INFRA_VARIABLES.open() as f:
        doc = hcl2.load(f)
    for block in doc["variable"]:
        for name, body in block.items():
            if name.strip('"') == "bars_batching_window_seconds":  # python-hcl2 keeps the quotes
                return float(body["default"])
    raise LookupError("infra/variables.tf has no bars_batching_window_seconds")


def main() -> None:
    logging.getLogger().setLevel(logging.ERROR)
    window_s = terraform_batching_window()
    grace = BarsOptions().grace_s
    target_ms = (grace + 1) * 1000
    print(f"   1x speed, {SYMBOLS} symbols, quote snapshots; batching window {window_s:g} s (Terraform), "
          f"grace {grace} s; target p99 ≤ {target_ms:,} ms wall")
    for name, (start, stop_at) in WINDOWS.items():
        with tempfile.TemporaryDirectory() as tmp:
            result = run_demo(DemoOptions(symbols=SYMBOLS, speed=1.0, every_trade=False, start=start, stop_at=stop_at,
                                          out_dir=Path(tmp), progress=False, charts=0, batching_window_s=window_s))
        fresh = result.freshness
        met = bool(fresh) and fresh["p99"]["wall_ms"] <= target_ms
        print(f"   {name}: {fresh.get('bars', 0)} bars; {describe(fresh)}  "
              f"({'met' if met else 'NOT met'})")
