"""docs/deploy.md's first-token recipe works: run it against the Fyers simulator and the moto server."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import pytest

from fyers.token_store import TokenStore
from tickpipe import names

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def first_token_snippet() -> str:
    text = DOC.read_text()
    section = text[text.index("**First token.**"):]
    return re.search(r"<<'EOF'\n(.*?)\nEOF\n", section, re.S).group(1)


def test_first_token_recipe_stores_a_token_the_producer_can_load(aws, fyers_sim, monkeypatch):
    sim = fyers_sim()
    cfg = sim.config
    prefix = names.ssm_prefix("prod")
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=prefix + names.SSM_APP_ID, Value=cfg.app_id, Type="String")
    ssm.put_parameter(Name=prefix + names.SSM_SECRET_KEY, Value=cfg.secret_key, Type="SecureString")
    # What the browser login hands back in the redirect.
    auth_code = sim.credentials.issue_auth_code(cfg.app_id)
    monkeypatch.setattr(builtins, "input", lambda _prompt="": auth_code)

    snippet = first_token_snippet()
    assert "https://api-t1.fyers.in" in snippet and '"/tickpipe/prod/"' in snippet
    exec(compile(snippet.replace("https://api-t1.fyers.in", sim.api_url)
                 .replace('region_name="ap-south-1"', f'region_name="{aws.region_name}"'), str(DOC), "exec"), {})

    token = TokenStore(ssm, prefix).load()
    assert token.access_token and token.refresh_token
    assert token.expires_at > token.issued_at


@pytest.mark.parametrize("heading", ["## Prerequisites", "## Package", "## Configure", "## Deploy",
                                     "## What it costs per month", "## Tear down"])
def test_deploy_doc_has_the_sections_a_user_needs(heading):
    assert heading in DOC.read_text()
