"""`make bench`: run every benchmark module (or those named on the command line) and print figures."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench

NOT_BENCHMARKS = {"cli"}  # `tickpipe bench` (bench/cli.py) runs this module; it measures nothing


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    modules = sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                     if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS)
    unknown = wanted - set(modules)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(modules)}", file=sys.stderr)
        return 2
    for name in modules:
        if wanted and name not in wanted:
            continue
        print(f"\n== bench/{name}.py ==", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
