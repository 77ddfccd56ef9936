"""requirements.lock, the one lock of third-party code: read it, and cut an artifact's part out of it.

``make lock`` writes requirements.lock with uv (``uv pip compile --universal --generate-hashes``):
every distribution the development install, the producer image and the Lambda layer use, one
version per Python where they differ (markers), each with the hashes of all its files. Each
artifact installs its part of it, never a fresh resolution, so what ships is what the tests ran:
- ``make .venv/.installed``: all of it (``pip install --require-hashes``);
- producer/Dockerfile: :func:`subset` of the ``producer`` artifact's requirements (infra/artifacts.py);
- infra/build_layer.py: the ``lambda`` artifact's part, for the Lambda runtime's Python and CPU.

A part is the requirements' closure in the lock's own dependency graph (its ``# via`` lines), with
markers evaluated for the target environment and written out as ``name==version --hash=…`` lines.

Usage: ``python infra/lockfile.py ARTIFACT [--python 3.12] [--machine aarch64]`` prints the part.
It needs only the standard library and ``packaging`` (pip carries a copy, so a bare image has it).
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

try:
    from packaging.markers import Marker
except ImportError:  # a bare Python image: pip's own copy
    from pip._vendor.packaging.markers import Marker  # type: ignore[no-redef]

ROOT: Final = Path(__file__).resolve().parents[1]
LOCK: Final = ROOT / "requirements.lock"
PROJECT: Final = "tickpipe"  # the lock's own root ("# via tickpipe (pyproject.toml)")


class LockError(ValueError):
    """The lock is missing a requirement or cannot be read; the message says what to run."""


@dataclass(frozen=True)
class Pin:
    name: str  # normalized (PEP 503)
    version: str
    marker: str  # "" when the pin holds everywhere
    hashes: tuple[str, ...]
    via: tuple[str, ...] = field(default=())  # normalized names of what requires it

    def line(self) -> str:
        """The pin for pip, markers already decided."""
        return f"{self.name}=={self.version} " + " ".join(f"--hash={h}" for h in self.hashes)

    def applies(self, env: dict[str, str]) -> bool:
        return not self.marker or Marker(self.marker).evaluate(env)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read(path: Path = LOCK) -> list[Pin]:
    """Every pin of the lock, in file order."""
    if not path.exists():
        raise LockError(f"{path} is missing: run `make lock`")
    pins: list[Pin] = []
    head: tuple[str, str, str] | None = None
    hashes: list[str] = []
    via: list[str] = []

    def flush() -> None:
        if head:
            pins.append(Pin(head[0], head[1], head[2], tuple(hashes), tuple(via)))

    in_via = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        if not raw.startswith((" ", "#")):  # a new pin: name==version [; marker] \
            flush()
            spec = line.rstrip("\\").strip()
            req, _, marker = spec.partition(";")
            name, sep, version = req.strip().partition("==")
            if not sep:
                raise LockError(f"{path}: {line!r} is not pinned with ==; run `make lock`")
            head, hashes, via, in_via = (normalize(name.split("[")[0]), version.strip(), marker.strip()), [], [], False
        elif line.startswith("--hash="):
            hashes.append(line.removeprefix("--hash=").rstrip("\\").strip())
        elif line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                via.append(normalize(rest.split(" (")[0].split("[")[0]))
        elif line.startswith("#   ") and in_via:
            via.append(normalize(line.removeprefix("#").strip().split(" (")[0].split("[")[0]))
        else:
            in_via = False
    flush()
    return pins


def target_env(python: str | None = None, machine: str | None = None) -> dict[str, str]:
    """Marker variables of a CPython on Linux: this interpreter, or another version/CPU."""
    py = python or f"{sys.version_info.major}.{sys.version_info.minor}"
    full = f"{py}.0" if python else platform.python_version()
    return {"python_version": py, "python_full_version": full, "sys_platform": "linux",
            "platform_system": "Linux", "os_name": "posix", "platform_machine": machine or platform.machine(),
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "platform_release": "", "platform_version": "", "implementation_version": full, "extra": ""}


def subset(requirements: tuple[str, ...] | list[str], env: dict[str, str] | None = None,
           pins: list[Pin] | None = None) -> list[Pin]:
    """The pins ``requirements`` need in ``env``: them and, transitively, what the lock says they require."""
    env = env or target_env()
    pins = [p for p in (read() if pins is None else pins) if p.applies(env)]
    by_name = {p.name: p for p in pins}
    wanted = {normalize(r) for r in requirements}
    missing = wanted - set(by_name)
    if missing:
        raise LockError(f"requirements.lock has no {sorted(missing)}: add them to pyproject.toml and run `make lock`")
    chosen = set(wanted)
    grew = True
    while grew:
        grew = False
        for pin in pins:
            if pin.name not in chosen and chosen & set(pin.via):
                chosen.add(pin.name)
                grew = True
    return [p for p in pins if p.name in chosen]


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "infra"))
    import artifacts  # infra/artifacts.py, beside this file

    parser = argparse.ArgumentParser(description="Print an artifact's part of requirements.lock for pip.")
    parser.add_argument("artifact", nargs="?", choices=sorted(artifacts.ARTIFACTS),
                        help="the artifact whose requirements (infra/artifacts.py) to print")
    parser.add_argument("--requirement", action="append", default=[], metavar="NAME",
                        help="print this requirement's part instead (repeatable), e.g. setuptools for a build")
    parser.add_argument("--python", help="target Python X.Y (default: this one)")
    parser.add_argument("--machine", help="target CPU, e.g. aarch64 (default: this one)")
    parser.add_argument("--without", action="append", default=[], help="leave out this requirement (repeatable)")
    args = parser.parse_args(argv)
    if bool(args.artifact) == bool(args.requirement):
        parser.error("name an artifact or give --requirement, not both")
    wanted = artifacts.ARTIFACTS[args.artifact].requirements if args.artifact else args.requirement
    reqs = [r for r in wanted if r not in args.without]
    try:
        part = subset(reqs, target_env(args.python, args.machine))
    except LockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(p.line() for p in part))
    return 0


if __name__ == "__main__":
    sys.exit(main())
