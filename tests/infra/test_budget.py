"""The spending guardrail: a monthly cost budget that e-mails alarm_emails (moto cannot read one back:
terraform_run.MOTO_CANNOT), checked from its configuration."""

from __future__ import annotations


def test_the_budget_limit_is_a_variable_and_both_notifications_mail_the_alarm_addresses(tf):
    budget = tf.resource("aws_budgets_budget", "monthly")
    assert budget["budget_type"] == "COST" and budget["time_unit"] == "MONTHLY" and budget["limit_unit"] == "USD"
    assert "var.monthly_budget_usd" in budget["limit_amount"]
    kinds = {(n["notification_type"], n["threshold"]) for n in budget["notification"]}
    assert kinds == {("FORECASTED", 80), ("ACTUAL", 100)}
    assert all(n["subscriber_email_addresses"] == "${var.alarm_emails}" for n in budget["notification"])
    # a notification needs a subscriber: no budget without an address
    assert budget["count"] == "${length(var.alarm_emails) > 0 ? 1 : 0}"


def test_the_default_budget_covers_the_planned_cost_of_50_symbols_in_the_default_stream_mode(tf):
    from tickpipe.plan.figures import load
    from tickpipe.plan.model import Universe, plan
    from tickpipe.plan.prices import prices_for

    # README "What it costs" prints the same plan; a default that the plain stack exceeds would cry wolf
    month = plan(Universe(50), load(), prices_for("ap-south-1"), "ap-south-1").total(tf.variables["stream_mode"]["default"])[1]
    assert month < tf.variables["monthly_budget_usd"]["default"]
