"""Files shipped as package data, found the same way from a checkout and from an installed wheel.

The Athena SQL lives in the repository's sql/ (Terraform and the docs point there); ``tickpipe/sql``
links to it, and the wheel carries the files themselves (infra/artifacts.py ``SQL_DATA``).
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path


def sql_dir() -> Path:
    """The folder holding ``ddl/`` and ``queries/`` (a real path: DuckDB and globbing need one)."""
    # Installed packages and the checkout are plain folders, so as_file() returns the path itself
    # and the context manager has nothing to clean up.
    with as_file(files("tickpipe") / "sql") as path:
        return Path(path)
