"""The spending guardrail: a monthly cost budget that notifies the alarm topic, whose e-mail
subscriptions (alarm_emails) deliver it. moto cannot read a budget back (terraform_run.MOTO_CANNOT),
so its configuration is checked here, and the topic's policy as Terraform applied it, with AWS's
rules (iam_eval.py): the Budgets guide, "Creating an Amazon SNS topic for budget notifications"
(https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html)."""

from __future__ import annotations

from iam_eval import Call, Policy
from terraform_run import state_resources

OTHER_ACCOUNT = "210987654321"


def test_the_budget_limit_is_a_variable_with_a_forecast_and_an_actual_notification(tf):
    budget = tf.resource("aws_budgets_budget", "monthly")
    assert budget["budget_type"] == "COST" and budget["time_unit"] == "MONTHLY" and budget["limit_unit"] == "USD"
    assert "var.monthly_budget_usd" in budget["limit_amount"]
    kinds = {(n["notification_type"], n["threshold"]) for n in budget["notification"]}
    assert kinds == {("FORECASTED", 80), ("ACTUAL", 100)}


def test_both_notifications_go_to_the_alarm_topic_and_nowhere_else(tf):
    budget = tf.resource("aws_budgets_budget", "monthly")
    for notification in budget["notification"]:
        assert notification["subscriber_sns_topic_arns"] == ["${aws_sns_topic.alarms.arn}"]
        # e-mail arrives through the topic's subscriptions, once: no second copy from Budgets itself
        assert "subscriber_email_addresses" not in notification
    # the topic always exists, so the budget does too (no alarm_emails needed to create it)
    assert "count" not in budget and "for_each" not in budget


def test_the_budget_is_created_after_the_topic_policy_that_lets_budgets_publish(tf):
    # Budgets rejects a topic it may not publish to ("Invalid SNS topic", the guide's Troubleshooting)
    assert "${aws_sns_topic_policy.alarms}" in tf.resource("aws_budgets_budget", "monthly")["depends_on"]


def budget_call(tf, topic_arn: str, account: str) -> Call:
    """Budgets publishing a notification of this stack's budget, as the guide's conditions see it."""
    name = tf.render(tf.resource("aws_budgets_budget", "monthly")["name"])
    return Call("sns:Publish", topic_arn, (("aws:SourceAccount", account),
                                           ("aws:SourceArn", f"arn:aws:budgets::{account}:budget/{name}")))


def topic_policy(tf_applied) -> tuple[Policy, str]:
    state = state_resources(tf_applied)
    policy = state["aws_sns_topic_policy.alarms"]
    assert policy["arn"] == state["aws_sns_topic.alarms"]["arn"]
    return Policy.of(policy["policy"]), policy["arn"]


def test_budgets_may_publish_to_the_alarm_topic_for_this_accounts_budgets(tf, tf_applied):
    policy, topic = topic_policy(tf_applied)
    account = topic.split(":")[4]
    assert policy.for_service("budgets.amazonaws.com").allows(budget_call(tf, topic, account))


def test_budgets_of_another_account_may_not_publish_to_the_alarm_topic(tf, tf_applied):
    # the guide's confused-deputy conditions: aws:SourceAccount and aws:SourceArn name this account
    policy, topic = topic_policy(tf_applied)
    budgets = policy.for_service("budgets.amazonaws.com")
    account = topic.split(":")[4]
    assert not budgets.allows(budget_call(tf, topic, OTHER_ACCOUNT))
    forged = Call("sns:Publish", topic, (("aws:SourceAccount", account),
                                         ("aws:SourceArn", f"arn:aws:budgets::{OTHER_ACCOUNT}:budget/x")))
    assert not budgets.allows(forged)
    assert not budgets.allows(Call("sns:Publish", topic))  # a request without the source keys


def test_budgets_gets_nothing_on_the_topic_but_publish(tf_applied):
    policy, topic = topic_policy(tf_applied)
    statements = policy.for_service("budgets.amazonaws.com").statements
    assert statements and all(st["Effect"] == "Allow" for st in statements)
    assert {a.lower() for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])} == {"sns:publish"}
    assert all(st["Resource"] in (topic, [topic]) for st in statements)


def test_the_default_budget_covers_the_planned_cost_of_50_symbols_in_the_default_stream_mode(tf):
    from tickpipe.plan.figures import load
    from tickpipe.plan.model import Universe, plan
    from tickpipe.plan.prices import prices_for

    # README "What it costs" prints the same plan; a default that the plain stack exceeds would cry wolf
    month = plan(Universe(50), load(), prices_for("ap-south-1"), "ap-south-1").total(tf.variables["stream_mode"]["default"])[1]
    assert month < tf.variables["monthly_budget_usd"]["default"]

