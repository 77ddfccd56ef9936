"""The README's cost section is what `tickpipe plan` prints for 50 and 5,000 symbols."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tickpipe.plan.figures import load
from tickpipe.plan.model import Universe, plan
from tickpipe.plan.prices import prices_for

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> dict[str, tuple[float, float]]:
    section = README.read_text().split("## What it costs", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"[\d,]+\.\d\d", cells[1]):
            rows[cells[0]] = (float(cells[1].replace(",", "")), float(cells[2].replace(",", "")))
    return rows


@pytest.mark.parametrize("column, symbols", [(0, 50), (1, 5000)])
def test_readme_costs_are_the_plans(column, symbols):
    p = plan(Universe(symbols), load(), prices_for("ap-south-1"), "ap-south-1")
    rows = readme_rows()
    by_component = {x.component: x.per_month for mode in p.lines.values() for x in mode}
    for name, values in rows.items():
        if name.startswith("total"):
            mode = "PROVISIONED" if "provisioned" in name else "ON_DEMAND"
            expected = p.total(mode)[1]
        else:
            key = next(k for k in by_component if name.startswith(k.split(" (")[0]) or k.startswith(name.split(" (")[0]))
            expected = by_component[key]
        # the CPU figures move a little with every `make bench`; sizes and prices do not
        assert values[column] == pytest.approx(expected, rel=0.03, abs=0.05), name
    assert len(rows) == len(by_component) + 2
