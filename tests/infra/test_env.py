"""Every TICKPIPE_* variable an entry point reads is set by Terraform on its function or task."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from infra_modules import infra_module

ROOT = Path(__file__).resolve().parents[2]


def cli_commands() -> dict[str, str]:
    """tickpipe/cli.py COMMANDS (command -> module), read from the source (importing the CLI would
    import every command)."""
    tree = ast.parse((ROOT / "tickpipe" / "cli.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "COMMANDS" for t in targets):
                return dict(ast.literal_eval(node.value))
    raise AssertionError("tickpipe/cli.py has no COMMANDS table")


def lambda_entry(tf, name: str) -> tuple[str, set[str]]:
    """(module of the handler, TICKPIPE_* keys Terraform sets) for a Lambda function."""
    fn = tf.resource("aws_lambda_function", name)
    module = fn["handler"].rpartition(".")[0]
    env = tf.block(fn, "environment")["variables"]
    return module, tf.env_keys(env)


def command_module(command: list[str]) -> str:
    """The module a container command runs: ``python -m M``, a console script of infra/artifacts.py
    (``tickpipe-produce``) or ``tickpipe SUB`` (tickpipe/cli.py)."""
    if command[:2] == ["python", "-m"]:
        return command[2]
    scripts = {name: target for art in infra_module("artifacts").ARTIFACTS.values() for name, target in art.scripts.items()}
    if command[0] != "tickpipe":
        assert command[0] in scripts, f"unexpected container command {command}"
        return scripts[command[0]].split(":")[0]
    module = cli_commands().get(command[1])
    assert module, f"tickpipe.cli.COMMANDS has no `tickpipe {command[1]}`"
    tree = ast.parse(ROOT.joinpath(*module.split(".")).with_suffix(".py").read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_parser"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == command[1]):
            return module
    raise AssertionError(f"{module} (tickpipe.cli.COMMANDS) does not register `tickpipe {command[1]}`")


def producer_entry(tf) -> tuple[str, set[str]]:
    """(module the container runs, TICKPIPE_* keys) for the producer task definition."""
    task = tf.resource("aws_ecs_task_definition", "producer")
    keys = tf.env_keys(task["container_definitions"]) | tf.env_keys(task["for_each"])
    return command_module(tf.locals["producer_command"]), keys


def history_entry(tf, key: str) -> tuple[str, set[str]]:
    """(module, TICKPIPE_* keys) for one instance of infra/history.tf's functions (for_each)."""
    fn = tf.resource("aws_lambda_function", "history")
    assert fn["environment"][0]["variables"] == "${local.history_env[each.key]}", fn["environment"]
    return fn["for_each"][key]["handler"].rpartition(".")[0], tf.env_keys(tf.locals["history_env"][key])


ENTRIES = {
    "bars": lambda tf: lambda_entry(tf, "bars"),
    "compact": lambda tf: lambda_entry(tf, "compact"),
    "token": lambda tf: lambda_entry(tf, "token"),
    "watermark_net": lambda tf: lambda_entry(tf, "watermark_net"),
    "login": lambda tf: lambda_entry(tf, "login"),
    "backfill": lambda tf: history_entry(tf, "backfill"),
    "reconcile": lambda tf: history_entry(tf, "reconcile"),
    "producer": producer_entry,
}
# Read by tickpipe/config.py Settings itself in every process, whatever the code then uses: the
# default of each resource name the deployment does not set (Settings.__post_init__).
READ_BY_SETTINGS = {"TICKPIPE_ENV"}


def test_the_entries_are_every_function_and_the_producer_task(tf):
    functions = set()
    for name, fn in tf.resources["aws_lambda_function"].items():
        functions |= set(fn["for_each"]) if isinstance(fn.get("for_each"), dict) else {name}
    assert set(ENTRIES) == functions | {"producer"}
    assert set(tf.resources["aws_ecs_task_definition"]) == {"producer"}


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_every_variable_an_entry_point_reads_is_set_by_terraform(tf, closure_of, reads_of, entry):
    module, terraform_sets = ENTRIES[entry](tf)
    closure = closure_of(module)
    assert module in closure.files, f"{entry}: entry module {module} not found in the repository"
    reads = reads_of(closure)
    assert reads, f"{entry}: found no configuration reads in {module}; is the scanner blind?"
    missing = reads - terraform_sets
    assert not missing, f"{entry} ({module}) reads {sorted(missing)} but Terraform does not set them"


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_terraform_sets_only_variables_the_code_reads(tf, closure_of, known_of, reads_of, tuning_of, entry):
    """The converse: each variable set on a function or the task is one its code uses: read by name,
    a Settings field the code uses, or a tuning option of its own (producer/options.py)."""
    module, terraform_sets = ENTRIES[entry](tf)
    closure = closure_of(module)
    unknown = terraform_sets - known_of(closure)
    assert not unknown, f"{entry}: Terraform sets {sorted(unknown)}, which {module} never reads (a typo?)"
    unused = terraform_sets - reads_of(closure) - tuning_of(closure) - READ_BY_SETTINGS
    assert not unused, f"{entry}: Terraform sets {sorted(unused)}, which {module} reads into Settings but never uses"


def test_the_converse_check_sees_a_settings_field_the_code_never_uses(tmp_path, closure_of, reads_of, tuning_of):
    pkg = tmp_path / "consumers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "thing.py").write_text("from tickpipe.config import Settings\n"
                                  "def handler(event, context):\n    return Settings.from_env().bucket\n")
    closure = closure_of("consumers.thing", tmp_path)
    used = reads_of(closure, tmp_path) | tuning_of(closure)
    assert "TICKPIPE_BUCKET" in used and "TICKPIPE_ALARM_TOPIC_ARN" not in used


def test_settings_variables_point_at_the_resources_terraform_builds(tf):
    expected = {
        "TICKPIPE_STREAM": "aws_kinesis_stream.ticks.name",
        "TICKPIPE_BUCKET": "aws_s3_bucket.lake.bucket",
        "TICKPIPE_BARS_FIREHOSE": "aws_kinesis_firehose_delivery_stream.bars.name",
        "TICKPIPE_ALARM_TOPIC_ARN": "aws_sns_topic.alarms.arn",
        "TICKPIPE_SSM_PREFIX": "local.ssm_prefix",
        "TICKPIPE_ENV": "var.env",
        "TICKPIPE_REGION": "var.region",
    }
    envs = {"producer": tf.locals["producer_env"], **tf.locals["lambda_env"]}
    for who, env in envs.items():
        for key, value in env.items():
            if key in expected:
                assert value == "${" + expected[key] + "}", f"{who}: {key} = {value}, expected {expected[key]}"


def test_each_producer_slice_gets_its_own_producer_id_and_symbols(tf):
    slices = tf.locals["producer_slices"]
    assert re.search(r"TICKPIPE_PRODUCER_ID\s*=\s*\"\$\{var\.env\}-\$\{name\}\"", slices), slices
    assert "TICKPIPE_SYMBOLS" in slices


def test_producer_options_agree_with_the_task_definition(tf):
    from producer.options import ENV_VARS as OPTIONS

    slices = tf.locals["producer_slices"]
    task = tf.resource("aws_ecs_task_definition", "producer")["container_definitions"]

    def value(option: str) -> str:
        m = re.search(rf"{OPTIONS[option]}\s*=\s*([^\n,}}]+)", slices)
        assert m, f"Terraform does not set {OPTIONS[option]}"
        return m.group(1).strip()

    # The health check calls the port the producer listens on; the journal sits on the writable volume.
    assert value("health_port") == '"${tostring(var.producer_health_port)}"' or "var.producer_health_port" in value("health_port")
    assert "var.producer_health_port" in task
    assert "local.producer_journal" in value("journal_dir")
    assert "containerPath = local.producer_journal" in task
    # SIGTERM → the producer's own deadline → ECS's SIGKILL at stopTimeout.
    assert "var.producer_stop_timeout_seconds - 10" in value("stop_timeout")
    assert "stopTimeout            = var.producer_stop_timeout_seconds" in task or \
        "stopTimeout = var.producer_stop_timeout_seconds" in task


def test_bars_options_are_set_on_the_function_with_the_handlers_defaults(tf):
    # TICKPIPE_BARS_* are an options table (consumers/bars/options.py), so the scan above counts them
    # as optional: here each is set on the function from its variable, whose default is the handler's.
    from consumers.bars.options import ENV_VARS, BarsOptions

    env = tf.locals["lambda_env"]["bars"]
    variables = {"grace_s": "bars_grace_seconds", "amend_bars": "bars_amend_bars",
                 "state_budget": "bars_state_budget_bytes"}
    assert set(variables) == set(ENV_VARS)
    for option, variable in variables.items():
        assert env[ENV_VARS[option]] == "${tostring(var." + variable + ")}", ENV_VARS[option]
        assert tf.default(variable) == getattr(BarsOptions(), option), variable


def test_scanner_sees_direct_reads_and_settings_fields(tmp_path, closure_of, reads_of):
    # The scanner itself, on a made-up package: a test that proves the real test can fail.
    pkg = tmp_path / "consumers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("def window(s):\n    return s.bars_firehose\n")
    (pkg / "thing.py").write_text(
        "import os\nfrom tickpipe.config import Settings\nfrom . import helper\n"
        "def handler(event, context):\n"
        "    s = Settings.from_env()\n"
        "    size = os.environ.get('TICKPIPE_BARS_BATCH', '10')\n"
        "    return s.bucket, helper.window(s), size\n"
    )
    closure = closure_of("consumers.thing", tmp_path)
    assert set(closure.files) >= {"consumers.thing", "consumers.helper", "consumers"}
    assert reads_of(closure, tmp_path) == {"TICKPIPE_BUCKET", "TICKPIPE_BARS_FIREHOSE", "TICKPIPE_BARS_BATCH"}


def test_scanner_refuses_variable_names_built_at_run_time(tmp_path, closure_of, reads_of):
    pkg = tmp_path / "producer"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import os\n\ndef opt(n):\n    return os.environ[f'TICKPIPE_PRODUCER_{n}']\n")
    with pytest.raises(AssertionError, match="builds a TICKPIPE_ name at run time"):
        reads_of(closure_of("producer", tmp_path), tmp_path)


def test_a_whole_number_option_gets_a_whole_number_from_terraform(tf):
    # Terraform's number admits 2.5; an option typed int refuses "2.5" when the handler starts, on
    # every invocation. So a variable Terraform hands to an int option as text validates floor(x) == x.
    import dataclasses
    import typing

    from consumers.bars.options import BarsOptions
    from producer.options import ProducerOptions
    from tokens.options import TokenOptions

    int_vars = {cls.env_var(f.name) for cls in (BarsOptions, ProducerOptions, TokenOptions)
                for f in dataclasses.fields(cls) if typing.get_type_hints(cls)[f.name] is int}
    text = "\n".join(p.read_text() for p in sorted(Path(__file__).resolve().parents[2].joinpath("infra").glob("*.tf")))
    handed = re.findall(r"(TICKPIPE_\w+)\s*=\s*tostring\(var\.(\w+)\)", text)
    assert handed, "no variable handed to an option as text: the pattern above is stale"
    checked = [(env, var) for env, var in handed if env in int_vars]
    assert checked
    for env, var in checked:
        conditions = " ".join(v["condition"] for v in tf.variables[var].get("validation", []))
        assert f"floor(var.{var}) == var.{var}" in conditions, f"{var} reaches {env} (an int) without a whole-number check"
