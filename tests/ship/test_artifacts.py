"""What ships works as it ships: each artifact built the way its build builds it, run in a bare venv.

- The producer image: the Dockerfile's build stage (its context as .dockerignore leaves it, its
  TICKPIPE_ARTIFACT and its `pip wheel` command) makes a wheel; pip installs that wheel into a
  virtual environment that sees no other first-party code, and `tickpipe-produce --help` runs.
- The Lambda code zip: the files infra/artifacts.py lists for `lambda`, alone in a folder, and each
  handler imports from it.
- The development wheel carries the Athena SQL, and `tickpipe query --list` finds it installed.

The bare environments get the artifact's part of requirements.lock (what the image and the layer
install), linked from this test run's own environment (installed from the same lock), so no network
is needed and nothing else is importable: an import of `local`, `fyers.sim`, pytest, duckdb or
pyarrow from the producer fails here as in the image.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from infra_modules import infra_module
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "producer" / "Dockerfile"


artifacts = infra_module("artifacts")


# --- helpers: the Dockerfile's build stage ----------------------------------------------------

def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def build_stage() -> list[tuple[str, str]]:
    ins = instructions()
    second = next(i for i, (op, _) in enumerate(ins) if op == "FROM" and i > 0)
    return ins[:second]


def dockerignore_excludes(rel: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for our file: the last matching pattern wins, `!` re-includes, a pattern
    matching a folder excludes what is below it."""
    excluded = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/")
        regex = fnmatch.translate(pat).replace(".*", "[^/]*")
        if pat.startswith("**/"):
            regex = fnmatch.translate(pat[3:]).replace(".*", "[^/]*")
            hit = any(re.fullmatch(regex, part) for part in parts)
        else:
            hit = any(re.fullmatch(regex, prefix) for prefix in prefixes)
        if hit:
            excluded = not negate
    return excluded


def build_context(dest: Path) -> Path:
    """The repository's tracked files as `docker build .` sends them (after .dockerignore)."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in tracked.decode().split("\0"):
        if rel and not dockerignore_excludes(rel, patterns) and (ROOT / rel).exists():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            src = ROOT / rel
            if src.is_symlink():
                target.symlink_to(src.readlink())
            else:
                shutil.copy2(src, target)
    return dest


def build_wheel(context: Path, out: Path, env: dict[str, str]) -> Path:
    """Run the build stage's RUN that makes the wheel, as written, with its paths moved under ``out``."""
    runs = [arg for op, arg in build_stage() if op == "RUN" and "pip wheel" in arg]
    assert len(runs) == 1, "the build stage should make one wheel"
    command = runs[0].replace("/tmp/", f"{out.parent}/").replace("/wheels", str(out))
    command = re.sub(r"(^|&& )pip ", rf"\1{sys.executable} -m pip ", command)
    command = re.sub(r"(^|&& )python ", rf"\1{sys.executable} ", command)
    import os

    result = subprocess.run(command, shell=True, cwd=context, capture_output=True, text=True, timeout=300,
                            env=os.environ | env)
    assert result.returncode == 0, command + "\n" + result.stderr[-3000:]
    [wheel] = out.glob("tickpipe-*.whl")
    return wheel


def stage_env() -> dict[str, str]:
    env = {}
    for op, arg in build_stage():
        if op == "ENV":
            for pair in arg.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


# --- helpers: a bare venv with an artifact's third-party dependencies ----------------------

def locked(requirements_file: Path) -> dict[str, str]:
    """name -> version of a requirements file the build wrote (``name==version --hash=…`` lines)."""
    pins = {}
    for line in requirements_file.read_text().splitlines():
        name, _, rest = line.partition("==")
        pins[canonicalize_name(name)] = rest.split()[0]
    return pins


def bare_venv(path: Path, pins: dict[str, str]) -> Path:
    """A venv without system site-packages whose only third-party code is ``pins``, at those versions.

    The distributions are linked from this test run's environment, which `make` installed from the
    same requirements.lock, so no network is needed; a version that differs fails the test.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=240)
    deps = path / "deps"
    deps.mkdir()
    for name, version in pins.items():
        dist = metadata.distribution(name)
        assert dist.version == version, f"{name} {dist.version} here, {version} in the lock: run make"
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith((".", "/"))}
        for top in tops:
            src = Path(str(dist.locate_file(top)))
            if src.exists() and top not in ("bin", "__pycache__") and not (deps / top).exists():
                (deps / top).symlink_to(src)
    [site] = path.glob("lib/python3*/site-packages")
    (site / "tickpipe-test-deps.pth").write_text(f"{deps}\n")
    return path


def lock_part(artifact: str) -> dict[str, str]:
    """The artifact's part of requirements.lock for this Python and CPU, as infra/lockfile.py prints it."""
    result = subprocess.run([sys.executable, str(ROOT / "infra" / "lockfile.py"), artifact],
                            capture_output=True, text=True, timeout=60, check=True)
    out = Path(tempfile.mkdtemp()) / "requirements.txt"
    out.write_text(result.stdout)
    return locked(out)


def pip_install_wheel(venv: Path, wheel: Path) -> None:
    """The wheel alone, installed for the venv's Python (``pip --python``: its scripts run that Python)."""
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                             "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]


def run_in(venv: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([*argv], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


# --- the producer image -------------------------------------------------------------------

@pytest.fixture(scope="module")
def producer_image(tmp_path_factory) -> tuple[Path, Path]:
    """(bare venv with the producer wheel installed, the wheel)."""
    tmp = tmp_path_factory.mktemp("producer-image")
    context = build_context(tmp / "context")
    wheel = build_wheel(context, tmp / "wheels", stage_env())
    # the runtime stage installs what the build stage wrote beside the wheel
    venv = bare_venv(tmp / "venv", locked(tmp / "wheels" / "requirements.txt"))
    pip_install_wheel(venv, wheel)
    return venv, wheel


def test_the_image_builds_the_producer_artifact():
    assert stage_env().get(artifacts.ARTIFACT_ENV) == "producer"


def test_the_image_installs_the_producers_part_of_the_lock_without_pyarrow(producer_image):
    venv, wheel = producer_image
    pins = locked(wheel.parent / "requirements.txt")
    assert pins == lock_part("producer")
    assert "pyarrow" not in pins and "websocket-client" in pins and "boto3" in pins
    runtime = [arg for op, arg in instructions()[len(build_stage()):] if op == "RUN" and "pip install" in arg]
    assert "--require-hashes --no-deps -r /tmp/wheels/requirements.txt" in runtime[0]


def test_both_stages_start_from_the_base_image_pinned_by_digest():
    bases = [arg.split()[0] for op, arg in instructions() if op == "FROM"]
    assert len(bases) == 2 and len(set(bases)) == 1
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", bases[0])


def test_the_image_entry_point_is_the_producers_own_script():
    entry = [arg for op, arg in instructions() if op == "ENTRYPOINT"][-1]
    argv = json.loads(entry)  # JSON array: no shell between ECS's SIGTERM and the process
    assert argv[0] in artifacts.ARTIFACTS["producer"].scripts


def test_tickpipe_produce_starts_in_the_image(producer_image, tmp_path):
    venv, _ = producer_image
    result = run_in(venv, str(venv / "bin" / "tickpipe-produce"), "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tickpipe-produce")


def test_a_bad_configuration_in_the_image_is_a_usage_error(producer_image, tmp_path):
    venv, _ = producer_image
    result = run_in(venv, str(venv / "bin" / "tickpipe-produce"), "--slice", "5/4", "--symbols", "x.txt",
                    cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_the_producer_wheel_carries_no_simulator_local_tools_or_test_helpers(producer_image):
    _, wheel = producer_image
    names = zipfile.ZipFile(wheel).namelist()
    assert "producer/service.py" in names and "fyers/feed.py" in names
    for absent in ("fyers/sim/", "local/", "bench/", "consumers/", "tokens/", "producer/testing.py", "producer/faultproxy.py",
                   "tickpipe/cli.py", "tickpipe/sql/"):
        assert not [n for n in names if n.startswith(absent)], absent
    scripts = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(scripts[0]).decode()
    assert "tickpipe-produce" in text and "tickpipe =" not in text


def test_the_producer_wheel_carries_the_accelerators_when_a_compiler_is_here(producer_image):
    import sysconfig

    if shutil.which("cc") is None or not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        pytest.skip("no C compiler or no Python.h here: a wheel without the accelerators")
    _, wheel = producer_image
    assert {"_tickpipe_feed.abi3.so", "_tickpipe_bars.abi3.so"} <= set(zipfile.ZipFile(wheel).namelist())


@pytest.mark.parametrize("module", ["local", "fyers.sim", "producer.testing", "tickpipe.cli", "tokens", "pytest", "pyarrow"])
def test_what_the_image_leaves_out_cannot_be_imported_there(producer_image, tmp_path, module):
    venv, _ = producer_image
    result = run_in(venv, str(venv / "bin" / "python"), "-c", f"import {module}", cwd=tmp_path)
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, result.stderr


# --- the Lambda code zip --------------------------------------------------------------------

@pytest.fixture(scope="module")
def lambda_tree(tmp_path_factory) -> tuple[Path, Path]:
    """(bare venv with the layer's dependencies, folder holding the code zip's files)."""
    tmp = tmp_path_factory.mktemp("lambda")
    code = tmp / "task"  # Lambda unpacks the code zip into /var/task
    for rel in artifacts.files("lambda"):
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, code / rel)
    return bare_venv(tmp / "venv", lock_part("lambda")), code


@pytest.mark.parametrize("handler", artifacts.LAMBDA_HANDLERS)
def test_each_handler_imports_from_the_code_zip_alone(lambda_tree, handler):
    venv, code = lambda_tree
    module, _, func = handler.rpartition(".")
    result = run_in(venv, str(venv / "bin" / "python"), "-c",
                    f"import {module}; assert callable({module}.{func}); import sys; "
                    "assert 'fyers.sim' not in sys.modules and 'local' not in sys.modules", cwd=code)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_code_zip_carries_no_simulator_local_tools_or_test_helpers():
    files = artifacts.files("lambda")
    assert "consumers/bars/handler.py" in files and "tokens/refresh.py" in files and "market/tick.py" in files
    for absent in ("fyers/sim/", "local/", "bench/", "producer/", "tickpipe/cli.py", "consumers/lake/compact_cli.py"):
        assert not [f for f in files if f.startswith(absent)], absent


# --- the development wheel ------------------------------------------------------------------

def test_the_installed_wheel_finds_the_sql(tmp_path):
    context = build_context(tmp_path / "context")
    wheel = build_wheel(context, tmp_path / "wheels", {artifacts.ARTIFACT_ENV: artifacts.FULL})
    names = zipfile.ZipFile(wheel).namelist()
    assert "tickpipe/sql/queries/daily_ohlcv.sql" in names and "tickpipe/sql/ddl/ticks.sql" in names
    pins = {n: v for n, v in lock_part("lambda").items()} | {
        n: metadata.version(n) for n in ("sqlglot", "duckdb")}  # local/query.py's own (the `local` extra)
    venv = bare_venv(tmp_path / "venv", pins)
    pip_install_wheel(venv, wheel)
    result = run_in(venv, str(venv / "bin" / "python"), "-c",
                    "from local.query import QUERY_DIR; print(sorted(p.name for p in QUERY_DIR.glob('*.sql')))",
                    cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "daily_ohlcv.sql" in result.stdout
    assert str(ROOT) not in result.stdout
