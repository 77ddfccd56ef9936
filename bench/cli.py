"""``tickpipe bench``: the same benchmarks as ``make bench``."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run the benchmarks and print their figures",
                       description="Run every benchmark in bench/ (or the ones named) and print figures "
                                   "as ratios against baselines measured in the same run.")
    p.add_argument("names", nargs="*", help="benchmark modules to run, e.g. codec producer")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.__main__ import main

    return main(args.names)
