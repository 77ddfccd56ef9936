"""requirements.lock is the one list of third-party versions: the venv the tests run in, the producer
image and the Lambda layer all install from it (infra/lockfile.py cuts each one's part)."""

from __future__ import annotations

import os
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from infra_modules import infra_module
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


lockfile = infra_module("lockfile")
build_layer = infra_module("build_layer")
PINS = lockfile.read()


def test_every_pin_is_exact_and_hashed():
    assert PINS
    for pin in PINS:
        assert pin.version and pin.hashes, pin.name
        assert all(h.startswith("sha256:") and len(h) == 71 for h in pin.hashes), pin.name


def test_the_lock_covers_every_requirement_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    locked = {p.name: p for p in PINS}
    for spec in wanted:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in locked, f"{name} is not in requirements.lock: run make lock"
        versions = [p.version for p in PINS if p.name == name]
        assert any(v in req.specifier for v in versions), f"{spec}: the lock pins {versions}"


def test_the_environment_the_tests_run_in_is_the_lock():
    env = lockfile.target_env()
    for pin in PINS:
        if pin.applies(env):
            assert metadata.version(pin.name) == pin.version, f"{pin.name}: run make (the venv is not the lock)"


def test_the_producer_part_has_no_pyarrow_and_everything_the_producer_needs():
    part = {p.name for p in lockfile.subset(("boto3", "websocket-client", "requests", "orjson",
                                             "exchange-calendars", "aws-kinesis-agg", "protobuf", "msgspec"))}
    assert "pyarrow" not in part
    assert {"botocore", "urllib3", "numpy", "pandas", "six"} <= part  # their own requirements, from the lock


def test_a_part_follows_the_target_python():
    # numpy's newest release needs Python 3.12; the lock pins an older one for 3.11
    numpy = {p.marker: p.version for p in PINS if p.name == "numpy"}
    on_311 = [p.version for p in lockfile.subset(("numpy",), lockfile.target_env("3.11"))]
    on_312 = [p.version for p in lockfile.subset(("numpy",), lockfile.target_env("3.12"))]
    assert len(on_311) == len(on_312) == 1 and set(numpy.values()) >= {on_311[0], on_312[0]}


def test_a_requirement_missing_from_the_lock_says_to_run_make_lock():
    with pytest.raises(lockfile.LockError, match="make lock"):
        lockfile.subset(("no-such-package",))


@pytest.mark.parametrize("arch", sorted(build_layer.MACHINES))
def test_the_layer_installs_the_lock_versions_for_the_lambda_python(arch):
    layer = {p.name: p.version for p in build_layer.pins(arch)}
    expected = {p.name: p.version for p in lockfile.subset(
        [r for r in build_layer.artifacts.ARTIFACTS["lambda"].requirements if r not in build_layer.EXCLUDED],
        lockfile.target_env("3.12", build_layer.MACHINES[arch]))}
    assert layer == expected
    assert "pyarrow" in layer and "boto3" not in layer and "botocore" not in layer


def test_the_layer_accepts_the_newer_manylinux_wheels():
    for arch, machine in build_layer.MACHINES.items():
        tags = build_layer.PLATFORMS[arch]
        assert f"manylinux_2_28_{machine}" in tags and f"manylinux2014_{machine}" in tags


def test_a_layer_whose_versions_differ_from_the_lock_is_refused(tmp_path):
    pins = build_layer.pins("arm64")
    for pin in pins:
        info = tmp_path / f"{pin.name}-{pin.version}.dist-info"
        info.mkdir()
        info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {pin.name}\nVersion: {pin.version}\n")
    assert build_layer.check_against_lock(tmp_path, pins)["pyarrow"] == next(
        p.version for p in pins if p.name == "pyarrow")
    other = tmp_path / "pyarrow-1.0.0.dist-info"
    next(tmp_path.glob("pyarrow-*.dist-info")).rename(other)
    other.joinpath("METADATA").write_text("Metadata-Version: 2.1\nName: pyarrow\nVersion: 1.0.0\n")
    with pytest.raises(build_layer.LayerError, match="pyarrow"):
        build_layer.check_against_lock(tmp_path, pins)


@pytest.mark.skipif(os.environ.get("TICKPIPE_BUILD_LAYER") != "1",
                    reason="downloads the layer's wheels (~150 MB); set TICKPIPE_BUILD_LAYER=1")
def test_a_built_layer_holds_exactly_the_lock_versions(tmp_path):
    pytest.importorskip("ziglang", reason="zig is a dev dependency")
    manifest = build_layer.build("arm64", tmp_path / "layer")
    assert manifest["packages"] == {p.name: p.version for p in build_layer.pins("arm64")}
