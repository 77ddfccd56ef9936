"""Every first-party import follows docs/DESIGN.md's layout table (its "may import" column).

The table is read from the design doc itself, so the doc and the rule cannot drift apart. A module
belongs to the most specific row whose folder (or file) holds it; it may import its own row's
modules and the rows its "may import" cell names ("everything" means any). Imports inside functions
count: a lazy import still ships and runs.
"""

from __future__ import annotations

import ast
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "DESIGN.md"
PACKAGES = ("tickpipe", "market", "fyers", "producer", "consumers", "tokens", "local", "bench")


def layer_table() -> dict[str, set[str] | None]:
    """Row (dotted prefix) -> rows it may import; None means everything."""
    text = DESIGN.read_text()
    table = text[text.index("| folder | what lives there | may import |"):].split("\n\n")[0]
    rows: dict[str, set[str] | None] = {}
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    for folder_cell, _, _ in cells:
        for folder in folder_cell.split(","):
            rows[to_dotted(folder.strip())] = None
    names = sorted(rows, key=len, reverse=True)
    for folder_cell, _, may in cells:
        allowed = None if may == "everything" else {to_dotted(w) for w in re.split(r"[,;()\s]+", may)
                                                    if to_dotted(w) in names}
        for folder in folder_cell.split(","):
            rows[to_dotted(folder.strip())] = allowed
    return rows


def to_dotted(path: str) -> str:
    return path.strip().replace("\\", "").removesuffix("/").removesuffix(".py").replace("/", ".")


def layer_of(module: str, rows: dict[str, set[str] | None]) -> str | None:
    for row in rows:  # a pattern row (``*_cli``) names modules wherever they are
        if "*" in row and fnmatch(module.rpartition(".")[2], row):
            return row
    for row in sorted(rows, key=len, reverse=True):
        if module == row or module.startswith(row + "."):
            return row
    return None


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            found.append((node.lineno, origin))
            found += [(node.lineno, f"{origin}.{a.name}") for a in node.names]
    return found


def modules() -> list[tuple[str, Path]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "__pycache__" not in path.parts and not path.is_symlink():
                out.append((".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), path))
    return out


def violations(sources: list[tuple[str, Path]] | None = None) -> list[str]:
    rows = layer_table()
    found = []
    for module, path in modules() if sources is None else sources:
        own = layer_of(module, rows)
        assert own is not None, f"{module} belongs to no row of the layout table in docs/DESIGN.md"
        allowed = rows[own]
        if allowed is None:
            continue
        for line, name in imports(path, module):
            if name.split(".")[0] not in PACKAGES:
                continue
            target = layer_of(name, rows)
            if target is not None and target != own and target not in allowed:
                found.append(f"{path}:{line}: {own} imports {name} ({target})")
    return sorted(set(found))


def test_the_table_has_a_row_for_every_package_and_reads_as_expected():
    rows = layer_table()
    assert {"tickpipe", "tickpipe.cli", "fyers.sim", *PACKAGES} <= set(rows)
    assert rows["market"] == {"tickpipe"} and rows["local"] is None
    assert "fyers.sim" not in rows["fyers"]
    assert layer_of("consumers.history.backfill_cli", rows) == "*_cli" and layer_of("consumers.history.backfill", rows) == "consumers"


def test_every_import_follows_the_layout_table():
    assert violations() == []


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("fyers.feed", "from fyers.sim import Simulator\n", "fyers imports fyers.sim"),
    ("producer.service", "def f():\n    from tokens.refresh import TokenService\n", "producer imports tokens"),
    ("market.tick", "import consumers.bars.handler\n", "market imports consumers"),
])
def test_a_forbidden_import_is_found(tmp_path, module, source, expected):
    # the checker itself: a planted import across layers is reported, lazy ones included
    path = tmp_path / "m.py"
    path.write_text(source)
    found = violations([(module, path)])
    assert any(expected in v for v in found), found
