"""The login page's HTML and security headers (pure: values in, text out).

Nothing secret is ever passed in: pages get times, counts, messages and the CSRF token of the
browser's own session. Every value is HTML-escaped. No script runs on any page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

IST: Final = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")

STYLE: Final = ("body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;"
                "color:#1b1b1b}h1{font-size:1.4rem}table{border-collapse:collapse}td,th{text-align:left;"
                "padding:.3rem .8rem .3rem 0}.ok{color:#11702b}.bad{color:#a11}.note{color:#555}"
                "button{font-size:1rem;padding:.5rem 1.2rem}")
_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


def security_headers(form_targets: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers on every answer. ``form_targets``: origins a form may lead to (Chromium applies
    form-action to the redirect after a POST too, so Fyers' login origin is one)."""
    form_action = " ".join(("'self'", *form_targets))
    return {
        "Content-Security-Policy": (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
                                    f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"),
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # The link and the callback's auth code are in URLs: never send them to another site as a
        # Referer. Not "no-referrer": with it a browser sends "Origin: null" on our own form posts.
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def when(ts: float | None) -> str:
    if ts is None:
        return "—"
    t = dt.datetime.fromtimestamp(ts, IST)
    return f"{t:%Y-%m-%d %H:%M} IST"


@dataclass(frozen=True)
class TokenView:
    """What the status page shows about the stored token."""

    stored: bool
    problem: str | None = None  # why there is no usable token (never its value)
    access_valid: bool = False
    expires_at: int | None = None
    issued_at: int | None = None
    refresh_expires_at: int | None = None
    days_left: float | None = None


@dataclass(frozen=True)
class RefreshView:
    """The last morning refresh, as the token function recorded it."""

    at: int | None
    ok: bool | None
    message: str


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>")


def status_page(env: str, token: TokenView, refresh: RefreshView, csrf: str, *, notice: str | None = None,
                warnings: tuple[str, ...] = ()) -> str:
    esc = html.escape
    rows = []
    if not token.stored:
        rows.append(("Access token", f'<span class="bad">none usable</span> — {esc(token.problem or "")}'))
    else:
        state = ('<span class="ok">valid</span>' if token.access_valid else '<span class="bad">expired</span>')
        rows.append(("Access token", f"{state} until {esc(when(token.expires_at))}"))
        rows.append(("Issued", esc(when(token.issued_at))))
        days = token.days_left if token.days_left is not None else 0.0
        cls = "ok" if days > 2 else "bad"
        rows.append(("Refresh token", f'<span class="{cls}">{days:.1f} days left</span> '
                                      f"(until {esc(when(token.refresh_expires_at))})"))
    if refresh.ok is None:
        rows.append(("Last morning refresh", '<span class="note">none recorded yet</span>'))
    else:
        cls, word = ("ok", "succeeded") if refresh.ok else ("bad", "failed")
        rows.append(("Last morning refresh", f'<span class="{cls}">{word}</span> at {esc(when(refresh.at))}'
                                             + (f" — {esc(refresh.message)}" if refresh.message else "")))
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    notes = "".join(f'<p class="ok" id="notice">{esc(n)}</p>' for n in ([notice] if notice else []))
    notes += "".join(f'<p class="bad">{esc(w)}</p>' for w in warnings)
    body = (f"<h1>tickpipe {esc(env)}: Fyers token</h1>{notes}<table id=\"status\">{table}</table>"
            f'<form method="post" action="/login"><input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<p><button type="submit" id="login">Log in with Fyers</button></p></form>'
            f'<p class="note">Logging in stores a new access token and a new 15-day refresh token. '
            f"The morning refresh renews the access token every day until then.</p>")
    return _page(f"tickpipe {env}: Fyers token", body)


def message_page(title: str, message: str, *, hint: str = "", status_link: bool = True) -> str:
    esc = html.escape
    message = message[:1].upper() + message[1:]  # messages are exception texts, written lower-case
    body = f'<h1>{esc(title)}</h1><p class="bad" id="error">{esc(message)}</p>'
    if hint:
        body += f'<p class="note">{esc(hint)}</p>'
    if status_link:
        body += '<p><a href="/">Back to the status page</a></p>'
    return _page(title, body)
