"""Build the Lambda dependency layer into infra/build/layer (``make lambda-layer ARCH=arm64``).

The layer holds the Lambda functions' third-party code: the ``lambda`` artifact's requirements
(infra/artifacts.py) at the versions and hashes of requirements.lock for the Lambda runtime's Python
and CPU (infra/lockfile.py), as manylinux wheels, minus what the runtime already has; and the native
accelerators (the bars fold's, native/bars_fold.c; compaction's JSON reader, native/json_columns.c)
compiled for that CPU. After pip, every installed version is checked against the lock, and the
manifest lists them. ``make package`` zips the folder (infra/package.py), and Terraform refuses a
layer whose manifest names another architecture or runtime (infra/lambdas.tf).

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
import tempfile
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
import artifacts
import lockfile

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_OUT: Final = ROOT / "infra" / "build" / "layer"
MANIFEST: Final = "tickpipe-layer.json"
RUNTIME: Final = "python3.12"  # infra/lambdas.tf local.lambda_runtime
MACHINES: Final = {"arm64": "aarch64", "x86_64": "x86_64"}
# The python3.12 runtime runs Amazon Linux 2023 (glibc 2.34): every manylinux tag up to 2.34 fits,
# and current wheels (pyarrow, numpy) are built for the newer ones only.
GLIBC_MAX: Final = 34
PLATFORMS: Final = {arch: [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MAX, 16, -1)]
                    + [f"manylinux2014_{machine}"] for arch, machine in MACHINES.items()}
# Lambda's limit for a function and its layers, unzipped; keep room for the code zip.
MAX_UNZIPPED: Final = 250 * 1024 * 1024
CODE_ROOM: Final = 10 * 1024 * 1024

# Requirements the layer leaves out, and why.
EXCLUDED: Final = {
    "boto3": "the Lambda runtime provides boto3/botocore",
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


def pins(arch: str = "arm64", python_version: str = RUNTIME.removeprefix("python")) -> list[lockfile.Pin]:
    """The layer's part of requirements.lock for the runtime's Python on ``arch``."""
    reqs = [r for r in artifacts.ARTIFACTS["lambda"].requirements if r not in EXCLUDED]
    return lockfile.subset(reqs, lockfile.target_env(python_version, MACHINES[arch]))


def requirements(arch: str = "arm64") -> list[str]:
    """The layer's requirements as ``name==version`` (hashes in :func:`pins`)."""
    return [f"{p.name}=={p.version}" for p in pins(arch)]


def import_names() -> set[str]:
    """Top-level modules the layer makes importable (for tests/infra)."""
    names = set(NATIVE_SOURCES)
    for req in artifacts.ARTIFACTS["lambda"].requirements:
        if req not in EXCLUDED:
            names.add(IMPORT_NAME.get(req, req.replace("-", "_")))
    return names


def installed(site: Path) -> dict[str, str]:
    """name -> version of every distribution pip put in ``site`` (from its .dist-info folders)."""
    found = {}
    for meta in site.glob("*.dist-info/METADATA"):
        fields = dict(line.split(": ", 1) for line in meta.read_text(errors="replace").splitlines()[:20]
                      if ": " in line)
        found[lockfile.normalize(fields["Name"])] = fields["Version"]
    return found


def check_against_lock(site: Path, wanted: list[lockfile.Pin]) -> dict[str, str]:
    """The installed versions, after checking each is the lock's: the layer ships what the tests ran."""
    have = installed(site)
    wrong = {p.name: (p.version, have.get(p.name)) for p in wanted if have.get(p.name) != p.version}
    extra = set(have) - {p.name for p in wanted}
    if wrong or extra:
        raise LayerError(f"the layer differs from requirements.lock: {wrong or ''} {sorted(extra) or ''} "
                         "(lock version, installed); run `make lock` and build again")
    return have


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
    wanted = pins(arch, python_version)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(p.line() for p in wanted) + "\n")
    platforms = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--target", str(site), *platforms, "--implementation", "cp", "--python-version", python_version,
           "--only-binary=:all:", "--no-deps", "--require-hashes", "-r", f.name,
           # pip would check each wheel's Requires-Python against the Python running it, not the
           # runtime's; the lock already chose each version for the runtime's Python (its markers)
           "--ignore-requires-python"]
    print(f"installing {len(wanted)} locked requirements for {arch}/{RUNTIME} into {site} ...", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    Path(f.name).unlink()
    if proc.returncode:
        raise LayerError(f"pip failed (a locked version without a wheel for {arch}/{RUNTIME}?):\n"
                         f"{proc.stderr[-3000:]}")
    versions = check_against_lock(site, wanted)
    prune(site)
    native = [build_native(arch, site, module) for module in NATIVE_SOURCES]
    size = folder_bytes(out)
    if size > MAX_UNZIPPED - CODE_ROOM:
        raise LayerError(f"layer is {size / 2**20:.0f} MiB unzipped; Lambda allows {MAX_UNZIPPED // 2**20} MiB "
                         "for code and layers together. Drop a dependency or use a container image.")
    manifest = {"architecture": arch, "runtime": RUNTIME, "packages": dict(sorted(versions.items())),
                "native": [so.name for so in native], "unzipped_bytes": size}
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
    except (LayerError, lockfile.LockError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"layer ready: {args.out} ({manifest['unzipped_bytes'] / 2**20:.0f} MiB unzipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
