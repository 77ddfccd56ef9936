"""The functions: event source settings, schedule, and a code package that holds what they import."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from infra_modules import infra_module

ROOT = Path(__file__).resolve().parents[2]


FUNCTIONS = ["bars", "compact", "token", "login", "watermark_net"]

# Provided by the Lambda Python runtime itself.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}


@pytest.fixture(scope="module")
def mapping(tf):
    return tf.resource("aws_lambda_event_source_mapping", "bars")


def test_bars_reads_the_ticks_stream_with_partial_batch_responses(tf, mapping):
    assert mapping["event_source_arn"] == "${aws_kinesis_stream.ticks.arn}"
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True
    assert mapping["starting_position"] == "TRIM_HORIZON"  # nothing written before the first poll is lost


def test_bars_batching_comes_from_validated_variables(mapping):
    assert mapping["batch_size"] == "${var.bars_batch_size}"
    assert mapping["maximum_batching_window_in_seconds"] == "${var.bars_batching_window_seconds}"
    assert mapping["tumbling_window_in_seconds"] == "${var.bars_tumbling_window_seconds}"
    assert mapping["maximum_retry_attempts"] == "${var.bars_max_retry_attempts}"


def test_bars_takes_one_batch_per_shard_at_a_time(mapping):
    # Its state is per shard (window state, S3 checkpoint); parallel batches of a shard would race.
    assert mapping["parallelization_factor"] == 1


def test_bars_failed_batches_go_to_a_queue(tf, mapping):
    on_failure = tf.block(tf.block(mapping, "destination_config"), "on_failure")
    assert on_failure["destination_arn"] == "${aws_sqs_queue.bars_failures.arn}"


def test_compact_runs_on_a_schedule_in_ist(tf):
    schedule = tf.resource("aws_scheduler_schedule", "compact")
    assert tf.block(schedule, "target")["arn"] == "${aws_lambda_function.compact.arn}"
    assert tf.default("compact_schedule_timezone") == "Asia/Kolkata"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_is_a_function_of_its_module(tf, function):
    module, _, attr = tf.resource("aws_lambda_function", function)["handler"].rpartition(".")
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == attr for n in tree.body), f"{module} has no {attr}()"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_code_package_holds_every_module_the_handler_imports(tf, closure_of, function):
    module = tf.resource("aws_lambda_function", function)["handler"].rpartition(".")[0]
    packaged = set(infra_module("package").APP_PACKAGES)
    closure = closure_of(module)
    outside = {m for m in closure.files if m.split(".")[0] not in packaged}
    assert not outside, f"{function} imports {sorted(outside)}, which the zip (infra/package.py APP_PACKAGES) leaves out"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_layer_holds_every_third_party_package_the_handler_imports(tf, closure_of, function):
    module = tf.resource("aws_lambda_function", function)["handler"].rpartition(".")[0]
    third = closure_of(module).third_party - set(sys.stdlib_module_names) - RUNTIME_PROVIDED
    missing = third - infra_module("build_layer").import_names()
    assert not missing, f"{function} imports {sorted(missing)}, which infra/build_layer.py does not install"


def test_layer_leaves_out_only_what_the_runtime_has_or_the_functions_never_import():
    build_layer = infra_module("build_layer")
    reqs = {build_layer.requirement_name(r) for r in build_layer.requirements()}
    assert {"orjson", "pyarrow", "aws-kinesis-agg"} <= reqs
    assert not reqs & set(build_layer.EXCLUDED)


def test_terraform_and_the_layer_build_agree_on_the_runtime(tf):
    assert tf.locals["lambda_runtime"] == infra_module("build_layer").RUNTIME


ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64


@pytest.mark.parametrize("arch", sorted(ELF_MACHINE))
def test_layer_accelerator_is_compiled_for_the_lambda_cpu(tmp_path, arch):
    pytest.importorskip("ziglang", reason="zig is a dev dependency (pip install -e '.[dev]')")
    so = infra_module("build_layer").build_native(arch, tmp_path)
    head = so.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == ELF_MACHINE[arch]
    assert so.name == "_tickpipe_bars.abi3.so"  # found by name on /opt/python, any Python >= 3.11


def test_layer_accelerator_built_for_this_cpu_folds_like_python(tmp_path):
    # the cross-compiled module, loaded in place of the locally built one, passes the fold's and the
    # tick decoder's specs
    pytest.importorskip("ziglang", reason="zig is a dev dependency (pip install -e '.[dev]')")
    import platform

    arch = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    if arch is None:
        pytest.skip(f"no Lambda architecture matches this CPU ({platform.machine()})")
    so = infra_module("build_layer").build_native(arch, tmp_path)
    code = ("import _tickpipe_bars, market.bars_fold as f, sys; "
            f"assert _tickpipe_bars.__file__ == {str(so)!r} and f.NATIVE; "
            "import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
            f"{str(ROOT / 'tests' / 'bars' / 'test_bars_fold.py')!r}, "
            f"{str(ROOT / 'tests' / 'bars' / 'test_decode_native.py')!r}, '-k', 'native']))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_layer_json_reader_built_for_this_cpu_reads_like_pyarrow(tmp_path):
    # compaction's accelerator, cross-compiled and loaded in place of the local build, passes its specs
    pytest.importorskip("ziglang", reason="zig is a dev dependency (pip install -e '.[dev]')")
    import platform

    arch = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    if arch is None:
        pytest.skip(f"no Lambda architecture matches this CPU ({platform.machine()})")
    so = infra_module("build_layer").build_native(arch, tmp_path, "_tickpipe_lines")
    code = ("import _tickpipe_lines, consumers.lake.compact as c, sys; "
            f"assert _tickpipe_lines.__file__ == {str(so)!r} and c.NATIVE; "
            "import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
            f"{str(ROOT / 'tests' / 'lake' / 'test_parse_native.py')!r}]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


# Nested blocks the AWS provider allows once per function (terraform validate: "Too many ... blocks").
SINGLE_BLOCKS = ("environment", "ephemeral_storage", "dead_letter_config", "logging_config", "tracing_config",
                 "vpc_config", "snap_start", "image_config")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_single_block_of_a_function_is_written_once(tf, function):
    body = tf.resource("aws_lambda_function", function)
    twice = [name for name in SINGLE_BLOCKS if isinstance(body.get(name), list) and len(body[name]) > 1]
    assert not twice, f"aws_lambda_function.{function} has more than one {twice} block"


def test_terraform_runs_the_handlers_the_artifact_declaration_names(tf):
    # infra/artifacts.py lists them for the test that imports each one from the code zip alone
    artifacts = infra_module("artifacts")
    handlers = set()
    for fn in tf.resources["aws_lambda_function"].values():
        if fn["handler"] == "${each.value.handler}":  # one resource per for_each entry
            handlers |= {entry["handler"] for entry in fn["for_each"].values()}
        else:
            handlers.add(fn["handler"])
    assert handlers == set(artifacts.LAMBDA_HANDLERS)
