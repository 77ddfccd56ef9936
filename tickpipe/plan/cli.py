"""``tickpipe plan``: what to deploy for N symbols and what it costs."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from tickpipe.plan.prices import REGIONS

    p = sub.add_parser(
        "plan", help="shards, producers and the AWS bill for a universe of symbols",
        description="Print what to deploy for a universe (Kinesis shards, producer tasks and their size) and "
                    "what it costs per trading day and per month, for provisioned and on-demand streams, "
                    "from the figures `make bench` measured and the price table in tickpipe/plan/prices.py "
                    "(re-check the prices). Ends with the Terraform variables to set.")
    p.add_argument("--symbols", type=int, required=True, help="instruments subscribed (all producers together)")
    p.add_argument("--updates-per-s", type=float, default=1.0,
                   help="average quote updates per symbol per second over the session (default 1)")
    p.add_argument("--peak-factor", type=float, default=1.0,
                   help="busiest second / average (default 1: snapshot mode sends a symbol at most once a second)")
    p.add_argument("--region", default="ap-south-1", choices=REGIONS, help="AWS region (default ap-south-1)")
    p.add_argument("--stream-mode", choices=("PROVISIONED", "ON_DEMAND"), default=None,
                   help="stream mode for the tfvars (default: the cheaper one)")
    p.add_argument("--firehose-billing", choices=("aggregated", "deaggregated"), default="aggregated",
                   help="what Firehose meters with the stream as its source: the stream's aggregated records "
                        "(default) or every de-aggregated tick, each rounded up to 5 KB (docs/cost.md)")
    p.add_argument("--figures", type=Path, default=None,
                   help="measured figures to plan from (default: tickpipe/plan/figures.json, written by `make bench`)")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from tickpipe.plan import figures as figures_file
    from tickpipe.plan.errors import FiguresError, PlanError
    from tickpipe.plan.model import Universe, plan
    from tickpipe.plan.prices import prices_for
    from tickpipe.plan.render import render

    try:
        universe = Universe(args.symbols, args.updates_per_s, args.peak_factor)
    except PlanError as exc:
        args.parser.error(str(exc))
    try:
        figures = figures_file.load(args.figures or figures_file.FIGURES_FILE)
    except FiguresError as exc:
        print(f"error: {exc}")
        return 1
    prices = prices_for(args.region)
    try:
        result = plan(universe, figures, prices, args.region, args.stream_mode, args.firehose_billing)
    except PlanError as exc:
        print(f"error: {exc}")
        return 1
    print(render(result, figures, prices))
    return 0
