"""Build of the optional native accelerators and of one artifact's contents; the rest is in pyproject.toml.

Three small accelerators for the hot loops, each optional: without a C compiler the install still
succeeds and the Python code they stand in for does the work, with the same result.
- ``_tickpipe_bars`` (native/bars_fold.c): the bars handler's fold (market/bars_fold.py).
- ``_tickpipe_feed`` (native/feed_decode.c): the producer's decode of full-mode updates (fyers/feed.py).
- ``_tickpipe_lines`` (native/json_columns.c): compaction's JSON lines → Arrow columns (consumers/lake/compact.py).
All use only Python's stable ABI, so one build serves every Python from 3.11 on.

Which packages, modules, data files and console scripts the wheel carries comes from
infra/artifacts.py: ``TICKPIPE_ARTIFACT=producer`` builds the producer image's wheel (no simulator, no
local tools, no test helpers); unset, the wheel is the whole development install.
"""

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def load_artifacts():
    # by path: a PEP 517 build does not put this folder on sys.path
    spec = importlib.util.spec_from_file_location("tickpipe_artifacts", HERE / "infra" / "artifacts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


artifacts = load_artifacts()
ARTIFACT = artifacts.artifact(os.environ.get(artifacts.ARTIFACT_ENV, ""))


class BuildArtifactPy(build_py):
    """Leaves out the modules the artifact excludes inside packages it carries (e.g. producer.testing)."""

    def find_package_modules(self, package, package_dir):
        return [m for m in super().find_package_modules(package, package_dir)
                if ARTIFACT.ships(f"{m[0]}.{m[1]}" if m[1] != "__init__" else m[0])]


def accelerator(name: str, source: str) -> Extension:
    return Extension(name, sources=[source], define_macros=[("Py_LIMITED_API", "0x030B0000")],
                     py_limited_api=True, extra_compile_args=["-O2"], optional=True)


setup(
    packages=artifacts.packages(ARTIFACT.name, HERE),
    package_data={pkg: list(globs) for pkg, globs in ARTIFACT.package_data.items()},
    include_package_data=False,
    entry_points={"console_scripts": [f"{name} = {target}" for name, target in ARTIFACT.scripts.items()]},
    cmdclass={"build_py": BuildArtifactPy},
    ext_modules=[accelerator("_tickpipe_bars", "native/bars_fold.c"),
                 accelerator("_tickpipe_feed", "native/feed_decode.c"),
                 accelerator("_tickpipe_lines", "native/json_columns.c")],
)
