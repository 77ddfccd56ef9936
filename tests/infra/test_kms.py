"""The secrets' own KMS key: its policy, as Terraform applied it, names the only principals that may
use it. moto stores key policies but does not evaluate them (docs/deploy.md, "Only AWS can prove"),
so these tests read the applied policy and apply KMS's rule themselves: a key policy is the primary
authority, and an IAM policy grants use of a key only where the key policy lets the account in
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam)."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

from terraform_run import state_resources

from tickpipe import names

USE = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom")


def key_policy(tf_applied, key: str) -> list[dict]:
    return json.loads(state_resources(tf_applied)[f"aws_kms_key.{key}"]["policy"])["Statement"]


def principals(st: dict) -> set[str]:
    aws = st.get("Principal", {}).get("AWS", [])
    return {aws} if isinstance(aws, str) else set(aws)


def allows(st: dict, action: str) -> bool:
    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    return st["Effect"] == "Allow" and any(fnmatchcase(action, a) for a in actions)


def role_arn(tf_applied, role: str) -> str:
    return state_resources(tf_applied)[f"aws_iam_role.{role}"]["arn"]


def test_the_account_administers_the_secrets_key_but_no_iam_grant_can_use_it(tf_applied):
    root = [st for st in key_policy(tf_applied, "secrets") if any(p.endswith(":root") for p in principals(st))]
    assert root, "the account must keep administering the key, or it could be locked out"
    for st in root:
        assert allows(st, "kms:PutKeyPolicy")
        for action in USE:
            assert not allows(st, action), (st["Sid"], action)


def test_only_the_token_and_login_functions_and_the_deployer_may_encrypt_secrets(tf_applied):
    users = set().union(*(principals(st) for st in key_policy(tf_applied, "secrets") if allows(st, "kms:Encrypt")))
    token, login = role_arn(tf_applied, "token"), role_arn(tf_applied, "login[0]")
    assert {token, login} <= users
    (deployer,) = users - {token, login}  # the principal Terraform ran as (secrets_key_users is empty)
    assert deployer.split(":")[5].startswith(("user/", "role/")), deployer


def test_the_producer_and_backfill_decrypt_only_the_access_token(tf_applied):
    state = state_resources(tf_applied)
    prefix = state["aws_ssm_parameter.fyers_app_id"]["arn"].rpartition("fyers/")[0]
    readers = {role_arn(tf_applied, "producer_task"), role_arn(tf_applied, 'history["backfill"]'),
               role_arn(tf_applied, 'history["reconcile"]')}
    for st in key_policy(tf_applied, "secrets"):
        if principals(st) & readers:
            assert principals(st) <= readers and st["Action"] in ("kms:Decrypt", ["kms:Decrypt"])
            assert st["Condition"] == {"StringEquals": {"kms:EncryptionContext:PARAMETER_ARN": prefix + names.SSM_TOKEN}}


def test_a_lake_reader_with_decrypt_on_the_data_key_is_not_named_by_the_secrets_key(tf_applied):
    # docs/deploy.md tells lake readers to get kms:Decrypt on kms_key_arn (the main key); nothing in
    # the secrets key's policy lets the account's IAM policies hand out its use
    main = state_resources(tf_applied)["aws_kms_key.main"]["arn"]
    secrets = state_resources(tf_applied)["aws_kms_key.secrets"]["arn"]
    assert main != secrets
    account_root = f"arn:aws:iam::{main.split(':')[4]}:root"
    for st in key_policy(tf_applied, "secrets"):
        if any(allows(st, a) for a in USE):
            assert account_root not in principals(st) and "*" not in principals(st), st["Sid"]


def test_the_secrets_parameters_and_the_tools_use_the_secrets_key(tf_applied):
    state = state_resources(tf_applied)
    secrets = state["aws_kms_key.secrets"]["arn"]
    for name in ("secret_key", "pin", "token", "refresh_token"):
        assert state[f'aws_ssm_parameter.fyers_secret["{name}"]']["key_id"] == secrets, name
    alias = state["aws_kms_alias.secrets"]["name"]
    env = state["aws_ssm_parameter.fyers_app_id"]["name"].split("/")[2]
    assert alias == names.secrets_key_alias(env)  # tickpipe login's default key


# --- the main key: the services that publish to the encrypted alarm topic -------------------------
# SNS encrypts a message with the topic's key on the publishing service's behalf, so each service
# that notifies the topic needs kms:GenerateDataKey* and kms:Decrypt in the key policy: SNS, "Key
# management", compatibility with AWS services (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html);
# for Budgets, https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html.

SERVICE_USE = ("kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt")
NOT_FOR_SERVICES = ("kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:CreateGrant", "kms:PutKeyPolicy",
                    "kms:ScheduleKeyDeletion", "kms:DescribeKey", "kms:RetireGrant", "kms:Sign")


def main_key(tf_applied):
    from iam_eval import Policy

    state = state_resources(tf_applied)
    key = state["aws_kms_key.main"]
    return Policy.of(key["policy"]), key["arn"]


def budget_context(tf, account: str) -> tuple[tuple[str, str], ...]:
    name = tf.render(tf.resource("aws_budgets_budget", "monthly")["name"])
    return (("aws:SourceAccount", account), ("aws:SourceArn", f"arn:aws:budgets::{account}:budget/{name}"))


def test_budgets_may_use_the_main_key_to_publish_to_the_alarm_topic(tf, tf_applied):
    """Without source conditions on the key: the topic policy is the confused-deputy gate
    (tests/infra/test_budget.py), and a condition KMS might never see would drop every alert."""
    from iam_eval import Call

    policy, key = main_key(tf_applied)
    budgets = policy.for_service("budgets.amazonaws.com")
    account = key.split(":")[4]
    for action in SERVICE_USE:
        assert budgets.allows(Call(action, key, budget_context(tf, account))), action
        assert budgets.allows(Call(action, key)), f"{action} without the source keys"


def test_budgets_and_cloudwatch_get_nothing_on_the_main_key_but_data_keys_and_decrypt(tf, tf_applied):
    from iam_eval import Call

    policy, key = main_key(tf_applied)
    account = key.split(":")[4]
    for service in ("budgets.amazonaws.com", "cloudwatch.amazonaws.com"):
        statements = policy.for_service(service)
        # the two actions as both guides write them (GenerateDataKey* also covers the pair variants)
        assert statements.actions() == {"kms:GenerateDataKey*", "kms:Decrypt"}, service
        for action in NOT_FOR_SERVICES:
            assert not statements.allows(Call(action, key, budget_context(tf, account))), (service, action)


def test_cloudwatch_keeps_its_grant_on_the_main_key(tf_applied):
    from iam_eval import Call

    policy, key = main_key(tf_applied)
    cloudwatch = policy.for_service("cloudwatch.amazonaws.com")
    account = key.split(":")[4]
    for action in SERVICE_USE:
        assert cloudwatch.allows(Call(action, key, (("aws:SourceAccount", account),))), action
        assert not cloudwatch.allows(Call(action, key, (("aws:SourceAccount", "210987654321"),))), action


def test_the_main_key_names_only_the_services_that_need_it(tf_applied):
    from iam_eval import service_principals

    policy, _ = main_key(tf_applied)
    services = {p for st in policy.statements for p in service_principals(st)}
    region = state_resources(tf_applied)["aws_kinesis_stream.ticks"]["arn"].split(":")[3]
    assert services == {f"logs.{region}.amazonaws.com", "cloudwatch.amazonaws.com", "budgets.amazonaws.com"}
    for st in policy.statements:
        # Budgets' grant is the one without: its topic policy holds the condition (kms.tf says why)
        if service_principals(st) and service_principals(st) != {"budgets.amazonaws.com"}:
            assert st.get("Condition"), f"{st.get('Sid')}: a service principal without a condition"
