"""What ships, declared once: the producer image and the Lambda code zip take their contents from here.

Each artifact names the first-party packages it carries (with everything below them), the modules
and subpackages it leaves out, its console scripts and the third-party distributions it installs.
Readers:
- setup.py builds a wheel of one artifact when ``TICKPIPE_ARTIFACT`` names it (producer/Dockerfile
  sets ``TICKPIPE_ARTIFACT=producer``); without it the wheel is the whole development install.
- the Lambda code zip takes :func:`files` of ``lambda`` (infra/ packaging);
- infra/build_layer.py installs the ``lambda`` requirements, at the versions in requirements.lock;
- tests/ship/ builds each artifact the way it ships and runs it in a bare virtual environment.

No production artifact carries the simulator (``fyers.sim``), the local stand-ins (``local``),
benchmarks (``bench``), test helpers or the development CLI (``tickpipe.cli``, which imports all of them).
This file is read by setup.py at build time, so it uses the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
# The environment variable that makes setup.py build one artifact's wheel.
ARTIFACT_ENV: Final = "TICKPIPE_ARTIFACT"
# Variable -> value meaning "everything": the editable development install and `pip install tickpipe`.
FULL: Final = "full"

# Never in a production artifact: local stand-ins, benchmarks, test helpers, the development CLI and
# its command modules (``*_cli``: each registers a `tickpipe` subcommand). A deployable's own
# command (producer/cli.py, ``tickpipe-produce``) is not one of them.
DEV_ONLY: Final = ("fyers.sim", "producer.testing", "producer.faultproxy", "tickpipe.cli", "tickpipe.__main__",
                   "tickpipe.plan", "*_cli")


@dataclass(frozen=True)
class Artifact:
    name: str
    packages: tuple[str, ...]  # top-level first-party packages, each with all its modules
    exclude: tuple[str, ...]  # dotted modules or subpackages left out
    scripts: dict[str, str] = field(default_factory=dict)  # console script -> "module:function"
    requirements: tuple[str, ...] = ()  # third-party distributions (names; versions come from the lock)
    package_data: dict[str, tuple[str, ...]] = field(default_factory=dict)  # package -> globs

    def ships(self, module: str) -> bool:
        """Whether dotted ``module`` (a module or a package) is part of this artifact."""
        top = module.split(".")[0]
        if top not in self.packages:
            return False
        return not any(module == ex or module.startswith(ex + ".") or fnmatch(module, ex) for ex in self.exclude)


# The Athena SQL (the repository's sql/) is data of the base package: tickpipe/sql links to it, the
# wheel copies the files, and readers find them with importlib.resources (tickpipe.resources).
SQL_DATA: Final = ("sql/*/*.sql",)  # ddl/, queries/, and any folder of SQL beside them

ARTIFACTS: Final[dict[str, Artifact]] = {
    "producer": Artifact(
        name="producer",
        packages=("tickpipe", "market", "fyers", "producer"),
        exclude=DEV_ONLY,
        scripts={"tickpipe-produce": "producer.cli:main"},
        requirements=("boto3", "websocket-client", "requests", "orjson", "exchange-calendars",
                      "aws-kinesis-agg", "protobuf", "msgspec"),
    ),
    "lambda": Artifact(
        name="lambda",
        packages=("tickpipe", "market", "consumers", "tokens", "fyers"),
        exclude=DEV_ONLY,
        # boto3/botocore come with the Lambda runtime (build_layer.py leaves them out of the layer)
        requirements=("boto3", "requests", "pyarrow", "aws-kinesis-agg", "protobuf", "orjson",
                      "exchange-calendars", "aws-lambda-powertools", "msgspec", "pybase64", "numpy"),
    ),
    FULL: Artifact(
        name=FULL,
        packages=("tickpipe", "market", "fyers", "producer", "consumers", "tokens", "local", "bench"),
        exclude=(),
        scripts={"tickpipe": "tickpipe.cli:main", "tickpipe-produce": "producer.cli:main"},
        package_data={"tickpipe": SQL_DATA, "tickpipe.plan": ("figures.json",)},
    ),
}
# The Lambda functions' handlers (infra/lambdas.tf `handler`), each importable from the code zip.
LAMBDA_HANDLERS: Final = ("consumers.bars.handler.handler", "consumers.lake.compact.handler", "tokens.refresh.handler",
                          "tokens.login.handler", "consumers.history.backfill.handler", "consumers.history.reconcile.handler",
                          "consumers.bars.watermark_net.handler")


class ArtifactError(ValueError):
    """An unknown artifact name; the message lists the known ones."""


def artifact(name: str) -> Artifact:
    try:
        return ARTIFACTS[name or FULL]
    except KeyError:
        raise ArtifactError(f"{ARTIFACT_ENV} must be one of {sorted(ARTIFACTS)}, got {name!r}") from None


def packages(name: str, root: Path = ROOT) -> list[str]:
    """Dotted names of the Python packages (folders with ``__init__.py``) the artifact carries."""
    art = artifact(name)
    found = []
    for top in art.packages:
        for init in sorted((root / top).rglob("__init__.py")):
            dotted = ".".join(init.parent.relative_to(root).parts)
            if "__pycache__" not in dotted and art.ships(dotted):
                found.append(dotted)
    return found


def files(name: str, root: Path = ROOT) -> list[str]:
    """Repository-relative paths of the ``.py`` files the artifact carries (the Lambda zip's list)."""
    art = artifact(name)
    out = []
    for pkg in packages(name, root):
        for path in sorted((root / pkg.replace(".", "/")).glob("*.py")):
            module = pkg if path.stem == "__init__" else f"{pkg}.{path.stem}"
            if art.ships(module):
                out.append(path.relative_to(root).as_posix())
    return out
