"""The simulator's REST API on 127.0.0.1: login page, token endpoints, symbol-token, history, market status.

Paths, request bodies and responses are those of Fyers API v3 (FYERS.md). Errors are an HTTP status
plus ``{"s": "error", "code": CODE, "message": TEXT}`` with the codes from :mod:`fyers.errors`.
A small control API under ``/_sim/`` (status, faults) serves the CLI and the demo.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from fyers import errors
from fyers.sim import history as sim_history
from fyers.sim.config import MAX_SYMBOLS_PER_TOKEN_CALL
from fyers.sim.credentials import CredentialError
from fyers.sim.instruments import Instrument
from fyers.sim.market import MINUTE_RESOLUTIONS, candles, quote_values
from fyers.sim.parts import SimParts
from fyers.sim.quotes import MAX_QUOTE_SYMBOLS, quote_fields
from market.session import DAY, IST

if TYPE_CHECKING:
    from fyers.sim.limits import RateLimits

log = logging.getLogger(__name__)

INVALID_INPUT = -50  # Fyers answers malformed requests with "Invalid input"
INVALID_SYMBOL = -300
MAX_BODY = 1 << 20
# How far one history request may reach (FYERS.md): ~100 days for minute resolutions, 366 for daily.
MAX_RANGE_DAYS_INTRADAY = 100
MAX_RANGE_DAYS_DAILY = 366

LOGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Fyers login (simulator)</title></head>
<body>
<h1>Log in to Fyers (simulator)</h1>
<p>App <b>{client_id}</b> asks for access. Submit the form with the test user and PIN
(fields: fy_id, pin; hidden: client_id, redirect_uri, response_type, state).</p>
{error}
<form method="post" action="/api/v3/generate-authcode">
  <input type="hidden" name="client_id" value="{client_id}">
  <input type="hidden" name="redirect_uri" value="{redirect_uri}">
  <input type="hidden" name="response_type" value="{response_type}">
  <input type="hidden" name="state" value="{state}">
  <label>Fyers ID <input name="fy_id" value=""></label>
  <label>PIN <input name="pin" type="password" maxlength="4"></label>
  <button type="submit">Log in</button>
</form>
</body></html>
"""


class RestSim(SimParts, Protocol):
    """What the REST server uses of the simulator (:class:`fyers.sim.simulator.Simulator` is one):
    its settings, market, clock, credentials, faults and rate limits, the request counter, and the
    two answers it composes itself (market status, the control API's status)."""

    @property
    def rate_limits(self) -> RateLimits | None: ...
    def count(self, name: str, n: int = 1) -> None: ...
    def market_status(self) -> list[dict[str, Any]]: ...
    def status(self) -> dict[str, Any]: ...


class RestError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad(message: str, code: int = INVALID_INPUT) -> RestError:
    return RestError(400, code, message)


class RestServer:
    """ThreadingHTTPServer on 127.0.0.1 in a daemon thread."""

    def __init__(self, sim: RestSim, port: int = 0) -> None:
        self.sim = sim
        handler = type("Handler", (_Handler,), {"sim": sim})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fyers-sim-rest", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    sim: RestSim
    protocol_version = "HTTP/1.1"
    server_version = "fyers-sim"

    def log_message(self, format: str, *args: Any) -> None:
        # Query strings can carry auth codes: log the path only.
        log.debug("%s %s -> %s", self.command, urlsplit(self.path).path, args[1] if len(args) > 1 else "")

    # -- plumbing -------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, orjson.dumps(payload))

    def _error(self, exc: RestError) -> None:
        self._json(exc.status, {"s": "error", "code": exc.code, "message": exc.message})

    def _read_body(self) -> None:
        """Read the whole request body before anything can answer: an answer (a fault, a bad token)
        that leaves the body unread would have it parsed as the next request on a kept-alive
        connection."""
        self._raw_body = b""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True  # the unread body cannot be skipped safely
            raise _bad(f"request body of {length} bytes is too large")
        if length:
            self._raw_body = self.rfile.read(length)

    def _body(self) -> bytes:
        return self._raw_body

    def _json_body(self) -> dict[str, Any]:
        raw = self._body()
        try:
            body = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            raise _bad("request body is not JSON") from None
        if not isinstance(body, dict):
            raise _bad("request body must be a JSON object")
        return body

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route = ROUTES.get((method, path))
        try:
            self._read_body()
            if route is None:
                known = any(p == path for _, p in ROUTES)
                raise RestError(405 if known else 404, INVALID_INPUT,
                                f"{method} {path} is not a Fyers API endpoint of this simulator")
            if not path.startswith("/_sim"):
                self.sim.count("rest_requests")
                fault = self.sim.faults.take_rest_fault()
                if fault is None and self.sim.rate_limits is not None:
                    fault = self.sim.rate_limits.check()
                if fault is not None:
                    raise RestError(*fault)
            route(self, query)
        except RestError as exc:
            self._error(exc)
        except Exception:  # a bug in the simulator must still answer, as a 500
            log.exception("simulator REST handler failed for %s %s", method, path)
            self._error(RestError(500, -500, "simulator internal error"))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    # -- auth -----------------------------------------------------------------------------------
    def _access_payload(self, bare_ok: bool = False) -> dict[str, Any]:
        header = self.headers.get("Authorization", "")
        if not header:
            raise RestError(401, errors.INVALID_TOKEN, "Authorization header missing: send 'APP_ID:ACCESS_TOKEN'")
        app_id: str | None
        app_id, sep, token = header.partition(":")
        if not sep:
            if not bare_ok:
                raise RestError(401, errors.INVALID_TOKEN,
                                "Authorization header must be 'APP_ID:ACCESS_TOKEN'")
            token, app_id = header, None
        if app_id is not None and app_id != self.sim.config.app_id:
            raise RestError(401, errors.INVALID_TOKEN, f"unknown app id {app_id!r} in Authorization header")
        try:
            return self.sim.credentials.check_access_token(token.strip())
        except CredentialError as exc:
            raise RestError(401, exc.code, exc.message) from None

    # -- endpoints ------------------------------------------------------------------------------
    def login_page(self, query: dict[str, str], error: str = "") -> None:
        client_id = query.get("client_id", "")
        redirect_uri = query.get("redirect_uri", "")
        if client_id != self.sim.config.app_id:
            raise _bad(f"unknown client_id {client_id!r}")
        self._check_redirect(redirect_uri)
        if query.get("response_type", "code") != "code":
            raise _bad("response_type must be 'code'")
        page = LOGIN_PAGE.format(
            client_id=html.escape(client_id), redirect_uri=html.escape(redirect_uri),
            response_type=html.escape(query.get("response_type", "code")),
            state=html.escape(query.get("state", "")),
            error=f'<p class="error">{html.escape(error)}</p>' if error else "",
        )
        self._send(401 if error else 200, page.encode(), "text/html; charset=utf-8")

    def _check_redirect(self, redirect_uri: str) -> None:
        want = self.sim.config.redirect_uri
        if want is not None and redirect_uri != want:
            raise _bad(f"redirect_uri {redirect_uri!r} does not match the app's registered redirect URI")
        if not redirect_uri.startswith(("http://", "https://")):
            raise _bad(f"redirect_uri must be an http(s) URL, got {redirect_uri!r}")

    def login_submit(self, query: dict[str, str]) -> None:
        raw = self._body().decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        cfg = self.sim.config
        if form.get("fy_id", "").upper() != cfg.fy_id or form.get("pin", "") != cfg.pin:
            self.login_page(form, error="Wrong Fyers ID or PIN")
            return
        if form.get("client_id", "") != cfg.app_id:
            raise _bad(f"unknown client_id {form.get('client_id', '')!r}")
        redirect_uri = form.get("redirect_uri", "")
        self._check_redirect(redirect_uri)
        code = self.sim.credentials.issue_auth_code(cfg.app_id)
        params = urlencode({"s": "ok", "code": 200, "auth_code": code, "state": form.get("state", "")})
        location = f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{params}"
        self._send(302, b"", "text/plain", {"Location": location})

    def validate_authcode(self, query: dict[str, str]) -> None:
        body = self._json_body()
        if body.get("grant_type") != "authorization_code":
            raise _bad("grant_type must be 'authorization_code'")
        creds = self.sim.credentials
        try:
            creds.check_app_hash(body.get("appIdHash", ""))
            creds.redeem_auth_code(str(body.get("code", "")))
        except CredentialError as exc:
            raise RestError(400, exc.code, exc.message) from None
        self._json(200, {"s": "ok", "code": 200, "message": "",
                         "access_token": creds.issue_access_token(),
                         "refresh_token": creds.issue_refresh_token()})

    def validate_refresh_token(self, query: dict[str, str]) -> None:
        body = self._json_body()
        if body.get("grant_type") != "refresh_token":
            raise _bad("grant_type must be 'refresh_token'")
        creds = self.sim.credentials
        try:
            creds.check_app_hash(body.get("appIdHash", ""))
            creds.check_refresh_token(str(body.get("refresh_token", "")))
            creds.check_pin(str(body.get("pin", "")))
        except CredentialError as exc:
            raise RestError(400, exc.code, exc.message) from None
        self._json(200, {"s": "ok", "code": 200, "message": "", "access_token": creds.issue_access_token()})

    def symbol_token(self, query: dict[str, str]) -> None:
        self._access_payload(bare_ok=True)  # the SDK sends the bare token here (observed)
        symbols = self._json_body().get("symbols")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise _bad("'symbols' must be a list of symbol strings")
        if len(symbols) > MAX_SYMBOLS_PER_TOKEN_CALL:
            raise _bad(f"{len(symbols)} symbols in one call; at most {MAX_SYMBOLS_PER_TOKEN_CALL}")
        known = self.sim.market.instruments
        valid = {s: known[s].fytoken for s in symbols if s in known}
        invalid = [s for s in symbols if s not in known]
        self._json(200, {"s": "ok", "code": 200, "message": "", "validSymbol": valid, "invalidSymbol": invalid})

    def history(self, query: dict[str, str]) -> None:
        self._access_payload()
        symbol = query.get("symbol", "")
        inst = self._instrument(symbol)
        resolution = query.get("resolution", "")
        daily = resolution.upper() in ("D", "1D")
        if not daily and not (resolution.isdigit() and int(resolution) in MINUTE_RESOLUTIONS):
            raise _bad(f"Invalid resolution {resolution!r}: minutes "
                       f"({', '.join(str(m) for m in sorted(MINUTE_RESOLUTIONS))}) or 'D'")
        resolution = "D" if daily else str(int(resolution))
        start, end = _range(query)
        cap = MAX_RANGE_DAYS_DAILY if daily else MAX_RANGE_DAYS_INTRADAY
        if end - start > cap * DAY:
            raise _bad(f"Invalid input: range_from to range_to spans more than {cap} days for resolution "
                       f"{resolution}; split the range")
        market, now = self.sim.market, self.sim.clock.now()

        def today(res: str) -> list[list[float | int]]:
            # Nothing after the clock's now: the history endpoint cannot see the future.
            return candles(market.timeline(symbol), res, until=now)

        rows = sim_history.history(inst, sim_day=market.day, sim_timeline_candles=today, seed=market.seed,
                                   resolution=resolution, start=start, end=end)
        self._json(200, {"s": "ok" if rows else "no_data", "code": 200, "message": "", "candles": rows})

    def _instrument(self, symbol: str) -> Instrument:
        """The universe's instrument for ``symbol``; any other symbol is unknown, as symbol-token says."""
        known = self.sim.market.instruments.get(symbol)
        if known is None:
            raise _bad(f"Invalid symbol {symbol!r}", INVALID_SYMBOL)
        return known

    def quotes(self, query: dict[str, str]) -> None:
        """``GET /data/quotes?symbols=A,B``: the latest quote of up to 50 symbols (Fyers' per-call cap).

        Each entry is ``{"n": symbol, "s": "ok", "v": {...}}``; an unknown symbol is an entry with
        ``"s": "error"`` (the call itself succeeds), as Fyers answers a mixed list.
        """
        self._access_payload()
        raw = query.get("symbols", "")
        symbols = [s.strip() for s in raw.split(",") if s.strip()]
        if not symbols:
            raise _bad("Invalid input: 'symbols' is empty; pass symbols=NSE:SBIN-EQ,NSE:TCS-EQ")
        if len(symbols) > MAX_QUOTE_SYMBOLS:
            raise _bad(f"Invalid input: {len(symbols)} symbols in one quotes call; at most {MAX_QUOTE_SYMBOLS}")
        now = int(self.sim.clock.now())
        market = self.sim.market
        entries = []
        for sym in symbols:
            if sym not in market.instruments:
                entries.append({"n": sym, "s": "error", "v": {"errmsg": f"Invalid symbol {sym!r}",
                                                              "code": INVALID_SYMBOL}})
                continue
            tl = market.timeline(sym)
            inst = market.instruments[sym]
            entries.append({"n": sym, "s": "ok", "v": quote_fields(inst, quote_values(tl, tl.index_at(now), now))})
        self._json(200, {"s": "ok", "code": 200, "message": "", "d": entries})

    def market_status(self, query: dict[str, str]) -> None:
        self._access_payload()
        self._json(200, {"s": "ok", "code": 200, "message": "", "marketStatus": self.sim.market_status()})

    # -- control (not part of Fyers) --------------------------------------------------------------
    def sim_status(self, query: dict[str, str]) -> None:
        self._json(200, self.sim.status())

    def sim_fault(self, query: dict[str, str]) -> None:
        body = self._json_body()
        command = body.get("command") or query.get("command", "")
        try:
            result = self.sim.faults.apply(str(command))
        except ValueError as exc:
            raise _bad(str(exc)) from None
        self._json(200, {"s": "ok", "message": result})


def _range(query: dict[str, str]) -> tuple[int, int]:
    """[range_from, range_to] in epoch s: date_format 0 is epoch seconds, 1 is YYYY-MM-DD (whole days)."""
    fmt = query.get("date_format", "0")
    raw_from, raw_to = query.get("range_from", ""), query.get("range_to", "")
    try:
        if fmt == "0":
            start, end = int(raw_from), int(raw_to)
        elif fmt == "1":
            d_from, d_to = dt.date.fromisoformat(raw_from), dt.date.fromisoformat(raw_to)
            start = int(dt.datetime.combine(d_from, dt.time(0, 0), IST).timestamp())
            end = int(dt.datetime.combine(d_to, dt.time(23, 59, 59), IST).timestamp())
        else:
            raise _bad(f"Invalid date_format {fmt!r}: 0 (epoch seconds) or 1 (YYYY-MM-DD)")
    except ValueError:
        raise _bad(f"Invalid input: range_from {raw_from!r} / range_to {raw_to!r} do not match "
                   f"date_format {fmt}") from None
    if end < start:
        raise _bad("Invalid input: range_to is before range_from")
    return start, end


ROUTES: dict[tuple[str, str], Callable[[_Handler, dict[str, str]], None]] = {
    ("GET", "/api/v3/generate-authcode"): _Handler.login_page,
    ("POST", "/api/v3/generate-authcode"): _Handler.login_submit,
    ("POST", "/api/v3/validate-authcode"): _Handler.validate_authcode,
    ("POST", "/api/v3/validate-refresh-token"): _Handler.validate_refresh_token,
    ("POST", "/data/symbol-token"): _Handler.symbol_token,
    ("GET", "/data/history"): _Handler.history,
    ("GET", "/data/quotes"): _Handler.quotes,
    ("GET", "/api/v3/marketStatus"): _Handler.market_status,
    ("GET", "/data/marketStatus"): _Handler.market_status,
    ("GET", "/_sim/status"): _Handler.sim_status,
    ("POST", "/_sim/fault"): _Handler.sim_fault,
}
