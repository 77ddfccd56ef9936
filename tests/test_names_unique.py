"""No two of tickpipe's classes share a name, and every error lives in its package's ``errors.py``
under one root, :class:`tickpipe.errors.TickpipeError`, so an import or a traceback always says which
one and a caller can tell "tickpipe refused this, with a message for a person" from a bug."""

from __future__ import annotations

import ast
import builtins
import importlib
from collections import defaultdict
from pathlib import Path

from tickpipe.errors import TickpipeError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tickpipe", "market", "fyers", "producer", "consumers", "tokens", "local", "bench")
# Known duplicates, each with the issue or branch that removes it; the list may only shrink.
KNOWN = {
    "_Handler": "private request handlers of two HTTP servers (fyers/sim/rest.py, tokens/login_server.py)",
}
# Exceptions that stay beside their code, each with the reason (docs/DESIGN.md "Errors").
NOT_ERRORS = {
    "fyers/socket.py": "_Disconnect ends one connection inside the socket loop: a control signal, never raised to a caller",
    "fyers/sim/": "the simulator is a stand-in for Fyers, not tickpipe: its errors stay with it",
}
BUILTIN_EXCEPTIONS = {name for name, obj in vars(builtins).items()
                      if isinstance(obj, type) and issubclass(obj, BaseException)}


def classes() -> list[tuple[str, ast.ClassDef]]:
    found = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef):
                    found.append((path.relative_to(ROOT).as_posix(), node))
    return found


def exception_classes() -> list[tuple[str, str]]:
    """(path, class name) of every class that derives, by the names of its bases, from an exception."""
    found = classes()
    names = set(BUILTIN_EXCEPTIONS)
    grew = True
    while grew:
        grew = False
        for _, node in found:
            if node.name not in names and any(ast.unparse(b).rpartition(".")[2] in names for b in node.bases):
                names.add(node.name)
                grew = True
    return [(path, node.name) for path, node in found if node.name in names - BUILTIN_EXCEPTIONS]


def exempt(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in NOT_ERRORS)


def test_no_two_classes_share_a_name():
    where: dict[str, list[str]] = defaultdict(list)
    for path, node in classes():
        where[node.name].append(path)
    shared = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert set(shared) <= set(KNOWN), {n: p for n, p in shared.items() if n not in KNOWN}


def test_the_scanner_finds_errors_wherever_they_are():
    # a test that can fail: the scan sees the errors modules' classes and the exempt ones
    found = set(exception_classes())
    assert ("tickpipe/errors.py", "TickpipeError") in found
    assert ("fyers/errors.py", "TokenExpiredError") in found  # a grandchild of Exception, by name
    assert ("fyers/socket.py", "_Disconnect") in found


def test_every_error_lives_in_its_packages_errors_module():
    astray = [f"{path}: {name}" for path, name in exception_classes()
              if not path.endswith("/errors.py") and not exempt(path)]
    assert not astray, f"move these into their package's errors.py: {astray}"


def test_every_error_derives_from_tickpipe_error():
    modules = sorted({path for path, _ in exception_classes() if path.endswith("/errors.py")})
    assert len(modules) >= 9, modules
    for path in modules:
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                assert issubclass(obj, TickpipeError), f"{path}: {name} does not derive from TickpipeError"


def test_errors_are_imported_from_their_own_module():
    # one home each: nobody re-exports an error, so `from X import SomeError` always names its home
    home = {name: path.removesuffix(".py").replace("/", ".") for path, name in exception_classes()
            if not exempt(path)}  # the simulator's facade (fyers/sim/__init__.py) exports its config error
    elsewhere = []
    for pkg in (*PACKAGES, "tests"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    elsewhere += [f"{path.relative_to(ROOT)}:{node.lineno} imports {a.name} from {node.module}, "
                                  f"not {home[a.name]}" for a in node.names
                                  if a.name in home and node.module != home[a.name]
                                  and node.module.split(".")[0] in PACKAGES]
    assert not elsewhere, elsewhere
