"""``tickpipe sim`` / ``python -m fyers.sim``: run the Fyers simulator alone, with faults on stdin.

It prints its URLs and the test account, then reads fault commands, one a line, from stdin
(``drop``, ``stall 5``, ``malformed``, ``expire``, ``refuse on|off``, ``ratelimit 3``,
``5xx 2 [503]``, ``reject -17 [N]``, ``status``, ``quit``). The same commands go to ``POST /_sim/fault``
(``{"command": "stall 5"}``) on the API URL, for when stdin is not a terminal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import threading
from contextlib import ExitStack
from typing import Any

from fyers.sim.config import SimConfig, SimConfigError
from fyers.sim.simulator import Simulator
from tickpipe.options import flag

HELP_COMMANDS = "commands: drop | stall SECONDS | malformed | expire | refuse on|off | ratelimit N | 5xx N [STATUS] | reject CODE [N] | status | quit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="market model seed (default 1)")
    parser.add_argument("--symbols", help="comma-separated Fyers symbols (default: 20 NSE equities, 2 indices, "
                                          "the NIFTY future)")
    parser.add_argument("--day", type=dt.date.fromisoformat, help="simulated trading day YYYY-MM-DD "
                                                                   "(default: latest weekday)")
    parser.add_argument("--start", type=dt.time.fromisoformat, default=dt.time(9, 15),
                        help="IST time the clock starts at (default 09:15; 09:00 includes the pre-open)")
    parser.add_argument("--speed", type=flag(float, ge=0, le=100_000), default=1.0,
                        help="exchange seconds per wall second; 400 runs a whole day in about a minute; "
                             "0 = the real clock (default 1)")
    parser.add_argument("--every-trade", action="store_true", help="publish every trade, not quote snapshots")
    parser.add_argument("--snapshot-interval", type=flag(float, gt=0, le=3600), default=1.0,
                        help="exchange seconds between a symbol's quote updates (default 1)")
    parser.add_argument("--api-port", type=flag(int, ge=0, le=65535), default=0, help="REST port on 127.0.0.1 (default: free port)")
    parser.add_argument("--ws-port", type=flag(int, ge=0, le=65535), default=0, help="data socket port on 127.0.0.1 (default: free port)")
    parser.add_argument("--redirect-uri", help="the only redirect URI the login page accepts (default: any)")
    parser.add_argument("--login-page", action="store_true",
                        help="also serve tickpipe's login page against this simulator and a moto SSM (docs/login.md)")
    parser.add_argument("--exit-at-close", action="store_true", help="stop when the simulated session ends")
    parser.add_argument("--json", action="store_true", help="print the start-up details as one JSON line")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("sim", help="run the Fyers API simulator (REST + data socket) on 127.0.0.1",
                                   description=__doc__.replace("``", ""), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    return SimConfig(seed=args.seed, symbols=symbols, day=args.day, start_time=args.start,
                     speed=args.speed or None, every_trade=args.every_trade,
                     snapshot_interval=args.snapshot_interval, api_port=args.api_port, ws_port=args.ws_port,
                     redirect_uri=args.redirect_uri)


def startup_details(sim: Simulator) -> dict[str, Any]:
    cfg = sim.config
    return {"api_url": sim.api_url, "ws_url": sim.ws_url, "app_id": cfg.app_id, "secret_key": cfg.secret_key,
            "fy_id": cfg.fy_id, "pin": cfg.pin, "session": str(sim.market.session),
            "clock": sim.describe_clock(), "symbols": sim.symbols}


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        sim = Simulator(config)
    except (SimConfigError, ValueError) as exc:
        print(f"tickpipe sim: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sim, ExitStack() as stack:
        details = startup_details(sim)
        page_info, page_lines = _login_page(sim, stack) if args.login_page else ({}, [])
        details.update(page_info)
        if args.json:
            print(json.dumps(details), flush=True)
        else:
            print(f"Fyers simulator ({details['clock']})")
            print(f"  REST API     {sim.api_url}   (TICKPIPE_FYERS_API_URL)")
            print(f"  data socket  {sim.ws_url}   (TICKPIPE_FYERS_WS_URL)")
            print(f"  login page   {sim.api_url}/api/v3/generate-authcode?client_id={config.app_id}"
                  "&redirect_uri=http://127.0.0.1/cb&response_type=code&state=x")
            print(f"  test app     app_id={config.app_id} secret_key={config.secret_key} "
                  f"fy_id={config.fy_id} pin={config.pin}")
            print(f"  {len(details['symbols'])} symbols; faults via stdin or POST {sim.api_url}/_sim/fault")
            print(f"  {HELP_COMMANDS}", flush=True)
            for line in page_lines:
                print(line, flush=True)
        reader = threading.Thread(target=_read_commands, args=(sim, stop), daemon=True, name="sim-stdin")
        reader.start()
        try:
            while not stop.wait(0.5):
                if args.exit_at_close and sim.session_over():
                    print("session over", flush=True)
                    break
        except KeyboardInterrupt:
            pass
    return 0


def _login_page(sim: Simulator, stack: ExitStack) -> tuple[dict[str, Any], list[str]]:
    """The login page against this simulator, on a moto server that lives as long as it."""
    import boto3

    from local.login_page import describe, seed_credentials, start_login_page
    from local.moto_server import MotoServer, patched_environ
    from tickpipe.config import Settings

    moto = stack.enter_context(MotoServer())
    stack.enter_context(patched_environ(moto.environ()))
    settings = Settings(env="local", region=moto.region, fyers_api_url=sim.api_url, fyers_ws_url=sim.ws_url)
    ssm = boto3.client("ssm", region_name=settings.region)
    seed_credentials(ssm, settings, sim)
    page = start_login_page(settings, sim, ssm)
    stack.callback(page.server.stop)
    exports = {**moto.environ(), **settings.environ()}
    info = {"login_page_url": page.server.url, "login_link": page.link, "environ": exports}
    return info, describe(page, sim) + [f"  export {k}={v}" for k, v in sorted(exports.items())]


def _read_commands(sim: Simulator, stop: threading.Event) -> None:
    """Fault commands from stdin. At end of input keep serving: the simulator stops on a signal."""
    for line in sys.stdin:
        command = line.strip()
        if not command:
            continue
        if command in ("quit", "exit"):
            stop.set()
            return
        if command == "status":
            print(json.dumps(sim.status()), flush=True)
            continue
        try:
            print(sim.faults.apply(command), flush=True)
        except ValueError as exc:
            print(f"error: {exc}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fyers.sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))
