"""Readers for infra/*.tf (python-hcl2) and for what the Python entry points read from the environment.

No Terraform binary runs here: the tests read the configuration as data and compare it with the
code's single sources of truth (tickpipe/names.py, tickpipe/config.py, market/tick.py, ...).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
from infra_modules import infra_module

from tickpipe.config import ENV_VARS

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
ACCOUNT = "123456789012"
# Packages of this repository: imports of these are followed, everything else is third party.
FIRST_PARTY = ("market", "fyers", "producer", "consumers", "tokens", "local", "tickpipe", "bench")
ENV_NAME = re.compile(r"^TICKPIPE_[A-Z0-9_]+$")
_REF = re.compile(r"\$\{([^{}]+)\}")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals in their quotes ('"dev"'); return the HCL string value."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)  # HCL's escapes (\\, \", \n) are JSON's
        except json.JSONDecodeError:
            return value[1:-1]  # quotes inside ${...} are not escaped in HCL
    return value


def _clean(node: Any) -> Any:
    """Unquote keys and string values, drop python-hcl2's __is_block__ markers."""
    if isinstance(node, dict):
        return {unquote(k): _clean(v) for k, v in node.items() if k != "__is_block__"}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return unquote(node)


@dataclass
class Terraform:
    """infra/*.tf as dictionaries: variables, locals, resources[type][name], data[type][name], outputs."""

    files: dict[str, dict[str, Any]]
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path = INFRA) -> Terraform:
        files = {}
        for path in sorted(folder.glob("*.tf")):
            with path.open() as fh:
                files[path.name] = _clean(hcl2.load(fh))
        tf = cls(files)
        for doc in files.values():
            for block in doc.get("variable", []):
                tf.variables.update(block)
            for block in doc.get("locals", []):
                tf.locals.update(block)
            for block in doc.get("output", []):
                tf.outputs.update(block)
            for kind, target in (("resource", tf.resources), ("data", tf.data)):
                for block in doc.get(kind, []):
                    for rtype, by_name in block.items():
                        target.setdefault(rtype, {}).update(by_name)
        return tf

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert name in self.resources.get(rtype, {}), f"infra/ has no {rtype}.{name}"
        return self.resources[rtype][name]

    def block(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        """The single nested block ``name`` of a resource body."""
        blocks = body.get(name)
        assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block, got {blocks!r}"
        return blocks[0]

    def default(self, variable: str) -> Any:
        return unquote(self.variables[variable].get("default"))

    def render(self, value: Any, env: str = "dev", _depth: int = 0) -> str:
        """Evaluate a string of literals and ${local.x} / ${var.x} references, as Terraform would.

        Variables take ``env`` or their default; the account id is ACCOUNT. Anything else (a
        function call, a resource attribute) stays as its ``${...}`` text.
        """
        assert _depth < 20, f"reference loop rendering {value!r}"
        text = str(value)

        def sub(match: re.Match[str]) -> str:
            ref = match.group(1).strip()
            if ref == "var.env":
                return env
            if ref.startswith("var.") and ref[4:] in self.variables:
                return str(self.default(ref[4:]))
            if ref == "data.aws_caller_identity.current.account_id":
                return ACCOUNT
            if ref == "data.aws_partition.current.partition":
                return "aws"
            if ref.startswith("local.") and isinstance(self.locals.get(ref[6:]), str):
                return self.render(self.locals[ref[6:]], env, _depth + 1)
            return match.group(0)

        return _REF.sub(sub, text)

    def local_path(self, dotted: str) -> Any:
        """``lambda_env.bars`` → locals["lambda_env"]["bars"], as far as the path goes into maps."""
        node: Any = self.locals
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        return node

    def env_keys(self, node: Any, _seen: frozenset[str] = frozenset()) -> set[str]:
        """Every TICKPIPE_* key an expression sets, following the locals it refers to."""
        keys: set[str] = set()
        if isinstance(node, dict):
            keys |= {k for k in node if ENV_NAME.match(k)}
            for v in node.values():
                keys |= self.env_keys(v, _seen)
            return keys
        if isinstance(node, list):
            for v in node:
                keys |= self.env_keys(v, _seen)
            return keys
        text = str(node)
        keys |= set(re.findall(r"\b(TICKPIPE_[A-Z0-9_]+)\s*=", text))
        for ref in re.findall(r"\blocal\.([\w.]+)", text):
            if ref not in _seen:
                keys |= self.env_keys(self.local_path(ref), _seen | {ref})
        return keys


@pytest.fixture(scope="session")
def tf() -> Terraform:
    return Terraform.load()


# --- what the Python entry points read ---------------------------------------------------------


def module_path(module: str, root: Path = ROOT) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """The statements under ``if TYPE_CHECKING:``: they never run (stubs such as mypy_boto3_* that
    no artifact installs are imported there)."""
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for stmt in node.body:
                skipped |= set(ast.walk(stmt))
    return skipped


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Dotted names a module imports (also inside functions: lazy imports count; not the ones under
    ``if TYPE_CHECKING:``)."""
    package = module if is_package else module.rpartition(".")[0]
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            yield origin
            yield from (f"{origin}.{a.name}" for a in node.names)  # may be submodules


@dataclass
class Closure:
    """The first-party modules an entry point can run, and the third-party packages they import."""

    files: dict[str, Path]
    third_party: set[str]


def import_closure(entry: str, root: Path = ROOT) -> Closure:
    files: dict[str, Path] = {}
    third: set[str] = set()
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in files:
            continue
        path = module_path(module, root)
        if path is None:
            continue
        files[module] = path
        parent = module.rpartition(".")[0]
        if parent:
            todo.append(parent)  # importing a.b runs a/__init__.py
        tree = ast.parse(path.read_text(), str(path))
        for name in _imports(tree, module, path.name == "__init__.py"):
            top = name.split(".")[0]
            if top in FIRST_PARTY:
                todo.append(name)
            elif top and top != "__future__":
                third.add(top)
    return Closure(files, third)


def _assigns_env_vars(tree: ast.Module) -> bool:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "ENV_VARS" for t in targets):
            return True
    return False


def definers(closure: Closure) -> dict[str, dict[str, str]]:
    """Modules that define a table of variables (``ENV_VARS = {field: "TICKPIPE_..."}``), imported."""
    found = {}
    for module, path in closure.files.items():
        if _assigns_env_vars(ast.parse(path.read_text(), str(path))):
            found[module] = dict(importlib.import_module(module).ENV_VARS)
    return found


def _scan(closure: Closure, root: Path) -> tuple[set[str], set[str], bool]:
    """(literal TICKPIPE_* names, attribute names used, whether Settings.from_env is called)."""
    literal: set[str] = set()
    attributes: set[str] = set()
    uses_settings = False
    skip = set(definers(closure)) | {"tickpipe.names"}
    for module, path in closure.files.items():
        if module in skip:
            continue
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.match(node.value):
                literal.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and str(head.value).startswith("TICKPIPE_"):
                    raise AssertionError(
                        f"{rel}:{node.lineno} builds a TICKPIPE_ name at run time ({ast.unparse(node)}); "
                        "spell variable names out, or keep them in an ENV_VARS table, so this test can see them"
                    )
            elif isinstance(node, ast.Attribute):
                if node.attr == "from_env" and ast.unparse(node.value).split(".")[-1] == "Settings":
                    uses_settings = True
                # names.stream(env) is a function, not a setting
                if not (isinstance(node.value, ast.Name) and node.value.id == "names"):
                    attributes.add(node.attr)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                  and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
                attributes.add(str(node.args[1].value))
    return literal, attributes, uses_settings


def env_reads(closure: Closure, root: Path = ROOT) -> set[str]:
    """TICKPIPE_* variables an entry point needs from its deployment: the names it reads literally
    (os.environ / getenv, a table of names spelled out), and the ``Settings`` fields
    it uses when it builds ``Settings.from_env()`` (the wiring: stream, bucket, prefix, ...).

    Tuning tables (an options class's ENV_VARS: producer/options.py, consumers/bars/options.py ...)
    have working defaults and are not required; those that must match Terraform are checked one by
    one in test_env.py.
    """
    literal, attributes, uses_settings = _scan(closure, root)
    reads = set(literal)
    if uses_settings:
        reads |= {ENV_VARS[name] for name in ENV_VARS if name in attributes}
    return reads


def env_known(closure: Closure, root: Path = ROOT) -> set[str]:
    """Every TICKPIPE_* variable the entry point can read at all."""
    known = set(_scan(closure, root)[0])
    for table in definers(closure).values():
        known |= set(table.values())
    return known


def env_tuning(closure: Closure) -> set[str]:
    """The variables of the closure's own tables besides Settings' (producer/options.py ENV_VARS):
    tuning options with working defaults, each used by the option it names."""
    from tickpipe import config

    return {v for module, table in definers(closure).items() if module != config.__name__ for v in table.values()}


@pytest.fixture(scope="session")
def tuning_of():
    return env_tuning


@pytest.fixture(scope="session")
def closure_of():
    return import_closure


@pytest.fixture(scope="session")
def reads_of():
    return env_reads


@pytest.fixture(scope="session")
def known_of():
    return env_known


# --- the real Terraform binary (tests/infra/terraform_run.py) ------------------------------------


def load_module(name: str, path: Path) -> Any:
    """A module from a file that is not on sys.path (tests/infra helpers; infra/*.py: infra_module)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


terraform_run = load_module("terraform_run", Path(__file__).with_name("terraform_run.py"))
package = infra_module("package")
iam_eval = load_module("iam_eval", Path(__file__).with_name("iam_eval.py"))


@pytest.fixture(scope="session")
def terraform_ready() -> None:
    reason = terraform_run.missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def infra_moto(terraform_ready):
    """A moto server of Terraform's own (the suite's shared one is reset between tests), with AWS's
    managed policies loaded (the producer's execution role attaches one)."""
    from local.moto_server import MotoServer

    with MotoServer(settings={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}) as server:
        yield server


@pytest.fixture(scope="session")
def tf_packages(tmp_path_factory) -> Path:
    """app.zip from the tree, and layer.zip from a layer folder holding only its manifest: moto never
    runs a function, and the real layer's contents are checked by test_lambdas.py / make lambda-layer."""
    out = tmp_path_factory.mktemp("package")
    layer = out / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / package.LAYER_MANIFEST).write_text(json.dumps({"architecture": "arm64", "runtime": "python3.12"}))
    package.package_app(out)
    package.package_layer(layer, out)
    return out


@pytest.fixture(scope="session")
def tf_vars(infra_moto, tf_packages) -> dict[str, Any]:
    """The variables without defaults, for a VPC with two subnets in two zones made in moto."""
    ec2 = terraform_run.moto_client(infra_moto, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{infra_moto.region}{zone}")
               ["Subnet"]["SubnetId"] for i, zone in enumerate("ab")]
    return {
        "producer_image_digest": f"sha256:{'0' * 64}",  # the image in the stack's repository (ecr.tf)
        "producer_vpc_id": vpc,
        "producer_subnet_ids": subnets,
        "fyers_app_id": "ABCD1234-100",
        "fyers_redirect_uri": "https://example.invalid/fyers",
        "package_dir": str(tf_packages),
        "force_destroy_bucket": True,
        # infra/login.tf adds this permission with the AWS CLI (local-exec), which would call the real
        # AWS, not moto: off here, and listed in docs/deploy.md as proven only in AWS
        "login_url_invoke_permission": False,
    }


@pytest.fixture(scope="session")
def tf_moto(infra_moto, tmp_path_factory):
    """infra/ copied into a scratch folder with the moto endpoints override, initialised."""
    return terraform_run.workdir(tmp_path_factory.mktemp("terraform-moto"), infra_moto.endpoint)


@pytest.fixture(scope="session")
def tf_applied(tf_moto, tf_vars) -> dict[str, Any]:
    """`terraform apply` of the default configuration on moto, once per session: the state as JSON
    (`terraform show -json`)."""
    var_file = tf_moto.var_file("defaults", tf_vars)
    tf_moto.run("apply", "-auto-approve", "-input=false", "-no-color", f"-var-file={var_file}", timeout=1500)
    return tf_moto.state_json()
