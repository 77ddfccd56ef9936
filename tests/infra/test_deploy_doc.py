"""docs/deploy.md's login steps are commands the CLI accepts, and never put a secret on a command line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tickpipe.cli import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def tickpipe_commands(text: str) -> list[list[str]]:
    """Every `tickpipe ...` command in the doc's code blocks and inline code, as argv after `tickpipe`."""
    found = []
    for line in re.findall(r"(?:^|`)(?:\.venv/bin/)?tickpipe ([^`\n#]+)", text, re.M):
        found.append(shlex.split(line.replace("$(terraform output -raw login_page_url)", "URL")))
    return found


def test_the_first_token_steps_use_tickpipe_login_not_a_script():
    section = DOC.read_text()[DOC.read_text().index("**Fyers credentials.**"):DOC.read_text().index("## Operate")]
    assert "tickpipe login --set-credentials" in section and "tickpipe login-link" in section
    assert "<<'EOF'" not in section and "put-parameter" not in section  # no secret typed as a --value


def test_every_tickpipe_command_in_the_doc_parses():
    commands = tickpipe_commands(DOC.read_text())
    assert any(c[:1] == ["login"] for c in commands) and any(c[:1] == ["login-link"] for c in commands)
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"docs/deploy.md: `tickpipe {' '.join(argv)}` is not a valid command")


@pytest.mark.parametrize("heading", ["## Prerequisites", "## Package", "## Configure", "## Deploy",
                                     "## What it costs per month", "## Tear down"])
def test_deploy_doc_has_the_sections_a_user_needs(heading):
    assert heading in DOC.read_text()
