"""Zip the Lambda code and the dependency layer for Terraform (``make package``).

Two zips land in infra/build/ (or ``--out``):

- ``app.zip``: the ``*.py`` files of the ``lambda`` artifact (infra/artifacts.py): the handlers'
  packages without the simulator, local stand-ins or command modules;
- ``layer.zip``: the folder ``make lambda-layer`` built (infra/build_layer.py), with its manifest
  copied beside the zip as ``layer.json`` so that Terraform can refuse a layer built for another
  architecture or Python before it uploads anything.

Both zips are deterministic: entries sorted, every timestamp 1980-01-01, fixed permissions. The
same tree gives the same bytes, so ``source_code_hash`` changes only when the code does and a
``terraform plan`` after a rebuild of an unchanged tree shows nothing to do.

Terraform reads the zips with ``filename`` + ``filebase64sha256`` (infra/lambdas.tf); this
replaces the hashicorp/archive provider, which would have been one more provider to mirror.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import shutil
import stat
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_OUT: Final = ROOT / "infra" / "build"
DEFAULT_LAYER: Final = DEFAULT_OUT / "layer"


def _load_artifacts():
    # by path, as setup.py does: this script runs from anywhere and infra/ is not a package
    if "tickpipe_artifacts" in sys.modules:
        return sys.modules["tickpipe_artifacts"]
    spec = importlib.util.spec_from_file_location("tickpipe_artifacts", ROOT / "infra" / "artifacts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# What the function zip holds is declared once, in infra/artifacts.py (artifact "lambda"), which the
# producer image's wheel reads too: no simulator, local stand-ins, benchmarks or command modules.
ARTIFACTS = _load_artifacts()
APP_PACKAGES: Final = ARTIFACTS.artifact("lambda").packages

APP_ZIP: Final = "app.zip"
LAYER_ZIP: Final = "layer.zip"
LAYER_MANIFEST: Final = "tickpipe-layer.json"  # written by infra/build_layer.py into the layer folder
LAYER_JSON: Final = "layer.json"  # its copy beside layer.zip, read by Terraform
ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


class PackageError(RuntimeError):
    """A zip cannot be built as asked; the message says what to do."""


def app_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """(file, name in the zip) for every ``*.py`` the ``lambda`` artifact carries, sorted by name."""
    for package in APP_PACKAGES:
        base = root / package
        if not (base / "__init__.py").is_file():
            raise PackageError(f"{base} is not a Python package (artifact 'lambda' in infra/artifacts.py)")
    return sorted(((root / name, name) for name in ARTIFACTS.files("lambda", root)), key=lambda item: item[1])


def layer_files(layer: Path) -> list[tuple[Path, str]]:
    """(file, name in the zip) for everything in the layer folder, sorted by name."""
    return sorted(((p, p.relative_to(layer).as_posix()) for p in layer.rglob("*") if p.is_file()),
                  key=lambda item: item[1])


def write_zip(entries: Iterable[tuple[Path, str]], out: Path) -> Path:
    """A zip whose bytes depend only on the entries' names, contents and executable bits."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path, name in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.create_system = 3  # Unix, so the permissions above are honoured when unzipped
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)
    return out


def base64sha256(path: Path) -> str:
    """What Terraform's filebase64sha256() and Lambda's CodeSha256 report for a file."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def package_app(out: Path = DEFAULT_OUT, root: Path = ROOT) -> Path:
    return write_zip(app_files(root), out / APP_ZIP)


def package_layer(layer: Path = DEFAULT_LAYER, out: Path = DEFAULT_OUT) -> Path:
    manifest = layer / LAYER_MANIFEST
    if not manifest.is_file():
        raise PackageError(f"no dependency layer in {layer} (no {LAYER_MANIFEST}): run `make lambda-layer` first")
    zipped = write_zip(layer_files(layer), out / LAYER_ZIP)
    shutil.copyfile(manifest, out / LAYER_JSON)
    return zipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", type=Path, default=DEFAULT_LAYER, help="layer folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the zips go (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        app = package_app(args.out)
        layer = package_layer(args.layer, args.out)
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in (app, layer):
        print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB, sha256 {base64sha256(path)})")
    manifest = json.loads((args.out / LAYER_JSON).read_text())
    print(f"layer built for {manifest.get('architecture')}/{manifest.get('runtime')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
