"""Every module a deployable can run (lazy imports included) is in its artifact (infra/artifacts.py).

tests/ship/ runs the built artifacts; this reads the source, so it also sees imports inside
functions that a `--help` never reaches (the producer loads its token only when it connects).
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from infra_modules import infra_module
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


artifacts = infra_module("artifacts")
ENTRIES = [("producer", target.split(":")[0]) for target in artifacts.ARTIFACTS["producer"].scripts.values()]
ENTRIES += [("lambda", handler.rpartition(".")[0]) for handler in artifacts.LAMBDA_HANDLERS]


@pytest.mark.parametrize(("artifact", "entry"), ENTRIES)
def test_the_artifact_carries_every_module_its_entry_point_imports(closure_of, artifact, entry):
    art = artifacts.ARTIFACTS[artifact]
    missing = sorted(m for m in closure_of(entry).files if not art.ships(m))
    assert not missing, f"{entry} imports {missing}, which the {artifact} artifact leaves out"


def installed_closure(requirements: tuple[str, ...]) -> set[str]:
    """Distributions pip installs for ``requirements`` (their own requirements followed)."""
    todo, found = [Requirement(r) for r in requirements], set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name not in found:
            found.add(name)
            for spec in metadata.distribution(req.name).requires or []:
                sub = Requirement(spec)
                if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                    todo.append(sub)
    return found


@pytest.mark.parametrize(("artifact", "entry"), ENTRIES)
def test_the_artifact_installs_every_third_party_package_its_entry_point_imports(closure_of, artifact, entry):
    installs = installed_closure(artifacts.ARTIFACTS[artifact].requirements)
    providers = metadata.packages_distributions()
    # our own native accelerators (setup.py, `_tickpipe_*`) are built with the wheel, not installed
    third = {m for m in closure_of(entry).third_party - set(sys.stdlib_module_names) if not m.startswith("_tickpipe_")}
    missing = {m for m in third if not {canonicalize_name(d) for d in providers.get(m, [])} & installs}
    assert not missing, f"{entry} imports {sorted(missing)}, which the {artifact} requirements do not install"


@pytest.mark.parametrize("name", ["producer", "lambda"])
def test_no_production_artifact_carries_dev_only_code(name):
    shipped = artifacts.packages(name) + [f.removesuffix(".py").replace("/", ".") for f in artifacts.files(name)]
    for dev in ("fyers.sim", "local", "bench", "producer.testing", "fyers.sim.testing", "tickpipe.cli"):
        assert dev not in shipped


@pytest.mark.parametrize("target", artifacts.LAMBDA_HANDLERS)
def test_every_lambda_handler_declares_a_typed_response(target):
    """Each handler's return annotation is a TypedDict (or a union of them): the shape Lambda reads
    (a TimeWindowEventResponse, a Function URL response) or the one an operator's invoke shows."""
    import importlib
    import types
    import typing

    module, _, name = target.rpartition(".")
    returns = typing.get_type_hints(getattr(importlib.import_module(module), name))["return"]
    union = typing.get_origin(returns) in (typing.Union, types.UnionType)
    members = typing.get_args(returns) if union else (returns,)
    assert all(typing.is_typeddict(m) for m in members), f"{target} returns {returns}"
