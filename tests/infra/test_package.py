"""infra/package.py: the Lambda zips Terraform uploads are deterministic and hold what they should."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import tickpipe_package as package  # infra/package.py, loaded by conftest.py

ROOT = Path(__file__).resolve().parents[2]


def make_layer(folder, manifest=None):
    (folder / "python" / "pkg").mkdir(parents=True)
    (folder / "python" / "pkg" / "__init__.py").write_text("X = 1\n")
    if manifest is not None:
        (folder / package.LAYER_MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_the_same_tree_gives_the_same_bytes(tmp_path):
    first = package.package_app(tmp_path / "one").read_bytes()
    second = package.package_app(tmp_path / "two").read_bytes()
    assert first == second


def test_the_app_zip_holds_the_lambda_artifact_and_nothing_else(tmp_path):
    names = zipfile.ZipFile(package.package_app(tmp_path)).namelist()
    assert names == sorted(package.ARTIFACTS.files("lambda", ROOT))
    assert "consumers/bars/handler.py" in names and not any(n.startswith(("producer/", "local/", "tests/")) for n in names)


def test_the_app_zip_leaves_out_the_simulator_and_every_command_module(tmp_path):
    names = zipfile.ZipFile(package.package_app(tmp_path)).namelist()
    assert not [n for n in names if n.startswith(("fyers/sim/", "tickpipe/plan/")) or n.endswith("_cli.py")
                or n in ("tickpipe/cli.py", "tickpipe/__main__.py")]
    assert "tokens/login.py" in names and "consumers/history/backfill.py" in names


def test_entries_carry_a_fixed_date_and_readable_permissions(tmp_path):
    for info in zipfile.ZipFile(package.package_app(tmp_path)).infolist():
        assert info.date_time == package.ZIP_EPOCH
        assert (info.external_attr >> 16) & 0o777 in (0o644, 0o755)


def test_the_layer_zip_keeps_the_folder_layout_and_its_manifest_beside_it(tmp_path):
    layer = make_layer(tmp_path / "layer", {"architecture": "arm64", "runtime": "python3.12"})
    zipped = package.package_layer(layer, tmp_path / "out")
    assert "python/pkg/__init__.py" in zipfile.ZipFile(zipped).namelist()
    assert json.loads((tmp_path / "out" / package.LAYER_JSON).read_text())["architecture"] == "arm64"


def test_a_layer_folder_without_its_manifest_is_refused_with_the_command_to_run(tmp_path):
    with pytest.raises(package.PackageError, match="make lambda-layer"):
        package.package_layer(make_layer(tmp_path / "layer"), tmp_path / "out")


def test_the_hash_is_what_terraform_filebase64sha256_gives(tmp_path):
    # base64 of the raw SHA-256 digest, 44 characters; Lambda reports CodeSha256 the same way
    digest = package.base64sha256(package.package_app(tmp_path))
    assert len(digest) == 44 and digest.endswith("=")
