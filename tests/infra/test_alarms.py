"""Alarms: the failures that lose or delay data page someone, on metrics the code really emits."""

from __future__ import annotations

from producer import metrics as producer_metrics
from tokens import refresh as token_service


def alarms(tf):
    return tf.resources["aws_cloudwatch_metric_alarm"]


def test_custom_metrics_alarmed_on_are_emitted_by_the_producer_or_the_token_function(tf):
    emitted = set(producer_metrics.COUNTERS) | set(producer_metrics.GAUGES) | set(token_service.METRICS)
    for key, metric in tf.locals["custom_metrics"].items():
        assert metric in emitted, f"alarm metric {key} = {metric!r} is not in producer/metrics.py or tokens/refresh.py"


def test_the_refresh_token_alarm_reads_the_token_functions_service_dimension(tf):
    alarm = alarms(tf)["refresh_token_expiring"]
    assert alarm["metric_name"] == "${local.custom_metrics.refresh_token_days_left}"
    assert tf.locals["custom_metrics"]["refresh_token_days_left"] == token_service.DAYS_LEFT
    assert alarm["dimensions"] == {"service": token_service.SERVICE}


def test_producer_alarms_use_the_producer_id_dimension(tf):
    publisher = producer_metrics.MetricsPublisher(producer_metrics.Metrics(), cloudwatch=None, producer_id="p")
    assert [d["Name"] for d in publisher.dimensions] == ["ProducerId"]
    for name in ("producer_auth", "journal_depth", "gaps"):
        assert "ProducerId" in alarms(tf)[name]["dimensions"]


def test_the_failures_that_matter_have_an_alarm(tf):
    watched = {(a.get("namespace"), a.get("metric_name")) for a in alarms(tf).values()}
    assert ("AWS/Lambda", "IteratorAge") in watched
    assert ("AWS/Lambda", "Errors") in watched
    assert ("AWS/Firehose", "DeliveryToS3.Success") in watched
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in watched
    assert ("${local.metric_namespace}", "${local.custom_metrics.journal_depth}") in watched
    assert ("${local.metric_namespace}", "${local.custom_metrics.auth_failing}") in watched
    assert ("${local.metric_namespace}", "${local.custom_metrics.gaps}") in watched
    assert "no_ticks_in_session" in alarms(tf)


def test_no_ticks_alarm_only_counts_nse_session_minutes(tf):
    alarm = alarms(tf)["no_ticks_in_session"]
    expr = next(q["expression"] for q in alarm["metric_query"] if q.get("return_data"))
    assert "DAY(clock) <= 5" in expr and "FILL(records, 0)" in expr
    # 09:15 IST is 03:45 UTC; the alarm waits 10 minutes, and the market closes at 10:00 UTC.
    assert tf.locals["session_start_utc_minute"] == "${3 * 60 + 55}"
    assert tf.locals["session_end_utc_minute"] == "${10 * 60}"


def test_every_alarm_notifies_the_topic_and_says_what_to_do(tf):
    for name, alarm in alarms(tf).items():
        assert alarm["alarm_actions"] == "${local.alarm_actions}", name
        assert alarm["ok_actions"] == "${local.alarm_actions}", name
        assert len(alarm["alarm_description"]) > 40, f"alarm {name} should tell the reader what to do"
    assert tf.locals["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]


def test_alarm_emails_subscribe_to_the_topic(tf):
    sub = tf.resource("aws_sns_topic_subscription", "alarm_email")
    assert sub["protocol"] == "email" and sub["for_each"] == "${toset(var.alarm_emails)}"


# --- who may publish to the alarm topic (the applied policy, AWS's rules: iam_eval.py) ------------
# The topic policy replaces SNS's default one, so CloudWatch must be named in it: AWS re:Post,
# https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger (Allow_Publish_Alarms).


def topic_policy(tf_applied):
    from iam_eval import Policy
    from terraform_run import state_resources

    state = state_resources(tf_applied)
    return Policy.of(state["aws_sns_topic_policy.alarms"]["policy"]), state["aws_sns_topic.alarms"]["arn"], state


def test_every_alarm_of_the_stack_may_publish_to_the_encrypted_topic(tf_applied):
    from iam_eval import Call, Policy

    policy, topic, state = topic_policy(tf_applied)
    cloudwatch = policy.for_service("cloudwatch.amazonaws.com")
    alarms = {a: v for a, v in state.items() if a.startswith("aws_cloudwatch_metric_alarm.")}
    notifying = {a: v["arn"] for a, v in alarms.items() if topic in v["alarm_actions"]}
    assert notifying and len(notifying) == len(alarms)
    account = topic.split(":")[4]
    key = Policy.of(state["aws_kms_key.main"]["policy"]).for_service("cloudwatch.amazonaws.com")
    for address, arn in notifying.items():
        assert cloudwatch.allows(Call("sns:Publish", topic, (("aws:SourceArn", arn),))), address
        # SNS encrypts the message with the topic's key on CloudWatch's behalf (kms.tf)
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert key.allows(Call(action, state["aws_kms_key.main"]["arn"], (("aws:SourceAccount", account),
                                                                              ("aws:SourceArn", arn)))), action


def test_alarms_of_another_account_or_stack_may_not_publish_to_the_topic(tf_applied):
    from iam_eval import Call

    policy, topic, _ = topic_policy(tf_applied)
    cloudwatch = policy.for_service("cloudwatch.amazonaws.com")
    region, account = topic.split(":")[3:5]
    for arn in (f"arn:aws:cloudwatch:{region}:210987654321:alarm:tickpipe-dev-bars-errors",
                f"arn:aws:cloudwatch:{region}:{account}:alarm:someone-elses-alarm"):
        assert not cloudwatch.allows(Call("sns:Publish", topic, (("aws:SourceArn", arn),))), arn


def test_the_topic_policy_names_only_cloudwatch_and_budgets_and_only_for_publish(tf_applied):
    from iam_eval import service_principals

    policy, topic, _ = topic_policy(tf_applied)
    assert {p for st in policy.statements for p in service_principals(st)} == {"cloudwatch.amazonaws.com",
                                                                               "budgets.amazonaws.com"}
    for st in policy.statements:
        assert set(st["Principal"]) == {"Service"}, st  # no account, no "*": IAM grants the stack's own publishers
        assert st["Effect"] == "Allow" and st["Action"] in ("sns:Publish", ["sns:Publish"]) and st["Resource"] == topic
        assert st.get("Condition"), f"{st.get('Sid')}: a service principal without a source condition"
