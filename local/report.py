"""The demo's HTML report: candlestick charts of a few symbols and the pipeline's figures.

Pure: bars and figures in, one self-contained HTML page out (inline SVG, no scripts, no network),
so it opens from disk anywhere and a test can read it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from market.session import ist_datetime

WIDTH, HEIGHT, PAD = 900, 320, 40
VOLUME_HEIGHT = 70


def candlestick_svg(symbol: str, bars: Sequence[Mapping[str, Any]]) -> str:
    """One symbol's day as an SVG candlestick chart with a volume strip beneath it."""
    if not bars:
        return f"<p>{html.escape(symbol)}: no bars</p>"
    bars = sorted(bars, key=lambda b: b["start"])
    lo = min(b["l"] for b in bars)
    hi = max(b["h"] for b in bars)
    span = (hi - lo) or 1.0
    top_vol = max((b.get("vol") or 0) for b in bars) or 1
    plot_h = HEIGHT - VOLUME_HEIGHT - 2 * PAD
    step = (WIDTH - 2 * PAD) / len(bars)
    body_w = max(step * 0.6, 1.0)

    def y(price: float) -> float:
        return PAD + (hi - price) / span * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(symbol)} 5-minute candles">',
        f'<text x="{PAD}" y="20" font-size="14" font-weight="bold">{html.escape(symbol)}</text>',
        f'<text x="{WIDTH - PAD}" y="20" font-size="11" text-anchor="end">high {hi:g} · low {lo:g}</text>',
    ]
    for i, b in enumerate(bars):
        x = PAD + i * step + step / 2
        up = b["c"] >= b["o"]
        colour = "#1a7f37" if up else "#cf222e"
        top, bottom = y(max(b["o"], b["c"])), y(min(b["o"], b["c"]))
        parts.append(f'<line x1="{x:.1f}" y1="{y(b["h"]):.1f}" x2="{x:.1f}" y2="{y(b["l"]):.1f}" stroke="{colour}"/>')
        parts.append(
            f'<rect x="{x - body_w / 2:.1f}" y="{top:.1f}" width="{body_w:.1f}" '
            f'height="{max(bottom - top, 1):.1f}" fill="{colour}"><title>'
            f'{ist_datetime(b["start"]):%H:%M} O {b["o"]:g} H {b["h"]:g} L {b["l"]:g} C {b["c"]:g} '
            f'V {b.get("vol") or 0}</title></rect>'
        )
        vh = (b.get("vol") or 0) / top_vol * (VOLUME_HEIGHT - 10)
        parts.append(
            f'<rect x="{x - body_w / 2:.1f}" y="{HEIGHT - PAD - vh:.1f}" width="{body_w:.1f}" '
            f'height="{vh:.1f}" fill="#8c959f"/>'
        )
    for i in range(0, len(bars), 12):
        x = PAD + i * step + step / 2
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 12}" font-size="10" text-anchor="middle">'
                     f'{ist_datetime(bars[i]["start"]):%H:%M}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _figure(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def figures_table(figures: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_figure(v))}</td></tr>" for k, v in figures.items()
    )
    return f"<table>{rows}</table>"


def render(title: str, figures: Mapping[str, Any], charts: Mapping[str, Sequence[Mapping[str, Any]]],
           checks: Mapping[str, bool] | None = None) -> str:
    """The whole report page."""
    check_html = ""
    if checks:
        items = "".join(
            f'<li class="{"ok" if ok else "bad"}">{"✔" if ok else "✘"} {html.escape(name)}</li>'
            for name, ok in checks.items()
        )
        check_html = f"<h2>Checks</h2><ul>{items}</ul>"
    chart_html = "".join(f"<div class='chart'>{candlestick_svg(sym, bars)}</div>" for sym, bars in charts.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 2px 12px; text-align: left; border-bottom: 1px solid #d0d7de; }}
th {{ font-weight: 600; }} .ok {{ color: #1a7f37; }} .bad {{ color: #cf222e; }} ul {{ list-style: none; padding: 0; }}
.chart {{ margin: 1em 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{check_html}
<h2>Pipeline figures</h2>
{figures_table(figures)}
<h2>5-minute candles (IST)</h2>
{chart_html}
</body></html>
"""
