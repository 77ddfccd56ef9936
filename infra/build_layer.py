"""Build the Lambda dependency layer into infra/build/layer (``make lambda-layer ARCH=arm64``).

The layer holds tickpipe's runtime dependencies (pyproject.toml ``[project].dependencies``) as
manylinux wheels for the Lambda runtime's Python and CPU, minus what the runtime already has or
the functions never import, and the native accelerators (the bars fold's, native/bars_fold.c;
compaction's JSON reader, native/json_columns.c) compiled for that CPU. Terraform zips the folder (infra/lambdas.tf) and refuses a layer whose manifest names
another architecture or runtime.

Needs network access to PyPI (pip), nothing else: no Docker, because only binary wheels are used,
and the accelerator is cross-compiled by zig (the ``ziglang`` package, a dev dependency that
``make lambda-layer`` installs) against glibc 2.17 and Python's stable ABI, so one build serves
the runtime whatever the building machine is.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_OUT: Final = ROOT / "infra" / "build" / "layer"
MANIFEST: Final = "tickpipe-layer.json"
RUNTIME: Final = "python3.12"  # infra/lambdas.tf local.lambda_runtime
PLATFORMS: Final = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
# Lambda's limit for a function and its layers, unzipped; keep room for the code zip.
MAX_UNZIPPED: Final = 250 * 1024 * 1024
CODE_ROOM: Final = 10 * 1024 * 1024

# Dependencies the layer leaves out, and why.
EXCLUDED: Final = {
    "boto3": "the Lambda runtime provides boto3/botocore",
    "websocket-client": "only the producer opens a socket",
}
# Installed packages removed after pip: the runtime has them (botocore alone is ~80 MB).
PRUNE_PACKAGES: Final = ("boto3", "botocore", "s3transfer")
# The native accelerators: module name -> source (the bars fold's first), zig's target per Lambda architecture.
NATIVE_SOURCES: Final = {"_tickpipe_bars": ROOT / "native" / "bars_fold.c",
                         "_tickpipe_lines": ROOT / "native" / "json_columns.c"}
NATIVE_MODULE: Final = "_tickpipe_bars"
NATIVE_SOURCE: Final = NATIVE_SOURCES[NATIVE_MODULE]
ZIG_TARGETS: Final = {"arm64": "aarch64-linux-gnu.2.17", "x86_64": "x86_64-linux-gnu.2.17"}
LIMITED_API: Final = "0x030B0000"  # Python 3.11's stable ABI, which the 3.12 runtime loads
# Requirement name -> top-level import name, where they differ.
IMPORT_NAME: Final = {"protobuf": "google", "aws-kinesis-agg": "aws_kinesis_agg"}


class LayerError(RuntimeError):
    """The layer cannot be built as asked; the message says what to change."""


def requirement_name(spec: str) -> str:
    for sep in "<>=!~;[ ":
        spec = spec.split(sep, 1)[0]
    return spec.strip().lower()


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The runtime dependencies that go into the layer, as pip requirement strings."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if requirement_name(d) not in EXCLUDED]


def import_names(pyproject: Path = ROOT / "pyproject.toml") -> set[str]:
    """Top-level modules the layer makes importable (for tests/infra)."""
    names = set(NATIVE_SOURCES)
    for spec in requirements(pyproject):
        name = requirement_name(spec)
        names.add(IMPORT_NAME.get(name, name.replace("-", "_")))
    return names


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prune(site: Path) -> None:
    """Drop what a function never loads: tests, caches, C headers, the runtime's own boto3."""
    for name in PRUNE_PACKAGES:
        for path in [site / name, *site.glob(f"{name}-*.dist-info")]:
            shutil.rmtree(path, ignore_errors=True)
    for pattern in ("**/__pycache__", "**/tests", "pyarrow/include", "pyarrow/src"):
        for path in list(site.glob(pattern)):
            shutil.rmtree(path, ignore_errors=True)
    for pattern in ("**/*.pyx", "**/*.pxd", "**/*.pyi"):
        for path in site.glob(pattern):
            path.unlink(missing_ok=True)


def native_command(arch: str, out: Path, include: str | None = None, source: Path = NATIVE_SOURCE) -> list[str]:
    """The zig command that compiles an accelerator's ``source`` for ``arch`` into ``out``."""
    include = include or sysconfig.get_paths()["include"]
    return [sys.executable, "-m", "ziglang", "cc", "-target", ZIG_TARGETS[arch], "-shared", "-fPIC", "-O2", "-s",
            f"-DPy_LIMITED_API={LIMITED_API}", f"-I{include}", str(source), "-o", str(out)]


def require_zig() -> None:
    if importlib.util.find_spec("ziglang") is None:
        raise LayerError("the bars accelerator is cross-compiled with zig: pip install ziglang "
                         "(make lambda-layer installs it), then build again")


def build_native(arch: str, site: Path, module: str = NATIVE_MODULE) -> Path:
    """Compile an accelerator for the Lambda CPU into the layer (``<module>.abi3.so``)."""
    require_zig()
    out = site / f"{module}.abi3.so"
    source = NATIVE_SOURCES[module]
    proc = subprocess.run(native_command(arch, out, source=source), capture_output=True, text=True)
    if proc.returncode:
        raise LayerError(f"compiling {source.name} for {arch} failed:\n{proc.stderr[-3000:]}")
    return out


def build(arch: str, out: Path = DEFAULT_OUT, python_version: str = RUNTIME.removeprefix("python")) -> dict:
    if arch not in PLATFORMS:
        raise LayerError(f"architecture must be one of {sorted(PLATFORMS)}, got {arch!r}")
    require_zig()  # before the long pip step
    shutil.rmtree(out, ignore_errors=True)
    site = out / "python"  # Lambda puts /opt/python on sys.path
    site.mkdir(parents=True)
    reqs = requirements()
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--target", str(site), "--platform", PLATFORMS[arch], "--implementation", "cp",
           "--python-version", python_version, "--only-binary=:all:", *reqs]
    print(f"installing {len(reqs)} requirements for {arch}/{RUNTIME} into {site} ...", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise LayerError(f"pip failed (a dependency without a {PLATFORMS[arch]} wheel?):\n{proc.stderr[-3000:]}")
    prune(site)
    native = [build_native(arch, site, module) for module in NATIVE_SOURCES]
    size = folder_bytes(out)
    if size > MAX_UNZIPPED - CODE_ROOM:
        raise LayerError(f"layer is {size / 2**20:.0f} MiB unzipped; Lambda allows {MAX_UNZIPPED // 2**20} MiB "
                         "for code and layers together. Drop a dependency or use a container image.")
    manifest = {"architecture": arch, "runtime": RUNTIME, "requirements": reqs, "native": [so.name for so in native],
                "unzipped_bytes": size}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="arm64", choices=sorted(PLATFORMS),
                        help="Lambda architecture (Terraform variable lambda_architecture)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="layer folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.arch, args.out)
    except LayerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"layer ready: {args.out} ({manifest['unzipped_bytes'] / 2**20:.0f} MiB unzipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
