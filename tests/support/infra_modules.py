"""The build scripts of infra/ as modules, for tests: infra/ is no package, so its files load by path.

One module per file for the whole test session, under the name the build code itself uses:
``tickpipe_artifacts`` (setup.py and infra/package.py share infra/artifacts.py under it),
``tickpipe_package`` for infra/package.py, the file's own name otherwise (infra/build_layer.py
imports ``artifacts`` and ``lockfile`` by plain name, with infra/ on sys.path).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

INFRA = Path(__file__).resolve().parents[2] / "infra"
MODULE_NAMES = {"artifacts": "tickpipe_artifacts", "package": "tickpipe_package"}


def infra_module(stem: str) -> ModuleType:
    """infra/<stem>.py, loaded once (registered in sys.modules: dataclasses look their module up there)."""
    name = MODULE_NAMES.get(stem, stem)
    if name in sys.modules:
        return sys.modules[name]
    if str(INFRA) not in sys.path:
        sys.path.insert(0, str(INFRA))  # for the scripts' own plain imports (build_layer -> artifacts, lockfile)
    spec = importlib.util.spec_from_file_location(name, INFRA / f"{stem}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no module at {INFRA / f'{stem}.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
