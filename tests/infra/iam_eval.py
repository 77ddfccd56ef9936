"""AWS's policy rules where moto's evaluation differs, for the role-by-role tests (test_roles.py).

moto enforces IAM (INITIAL_NO_AUTH_ACTION_COUNT) but, outside S3, SQS, IAM and STS, it checks every
call against the resource "*", so a statement scoped to a stream or a parameter never matches
there; it does not apply S3's 403-for-a-missing-key rule; and it never evaluates KMS. The tests
record each call a component makes (``Recorder``) and evaluate it here with AWS's rules:

- identity-policy evaluation: an explicit Deny wins, else an Allow whose action, resource and
  conditions all match, else denied
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html);
- wildcards ``*`` and ``?`` in actions (case-insensitive) and resources
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html);
- S3: a GET or HEAD of a key that does not exist needs s3:ListBucket on the bucket to be a 404;
  without it the caller gets 403 AccessDenied
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions");
- KMS: an object written to a bucket whose default encryption is SSE-KMS needs kms:GenerateDataKey on
  the key, and reading it needs kms:Decrypt
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _match(pattern: str, value: str, *, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition_ok(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, pairs in conditions.items():
        for key, expected in pairs.items():
            actual = context.get(key)
            if actual is None:
                return False  # a key absent from the request never matches (no ...IfExists used here)
            values = _list(expected)
            if operator in ("StringEquals", "ArnEquals"):
                ok = actual in values
            elif operator in ("StringLike", "ArnLike"):
                ok = any(_match(v, actual) for v in values)
            elif operator == "Bool":
                ok = actual.lower() in [v.lower() for v in values]
            else:
                raise AssertionError(f"condition operator {operator} is not modelled here: add it with its rule")
            if not ok:
                return False
    return True


@dataclass(frozen=True)
class Call:
    """One IAM authorization a call needs: action, resource ARN, request context."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    note: str = ""


@dataclass
class Policy:
    statements: list[dict[str, Any]]

    @classmethod
    def of(cls, *documents: str) -> Policy:
        return cls([st for doc in documents for st in _list_statements(json.loads(doc))])

    def allows(self, call: Call) -> bool:
        context = dict(call.context)
        allowed = False
        for st in self.statements:
            if not any(_match(a, call.action, case=False) for a in _list(st.get("Action"))):
                continue
            if not any(_match(r, call.resource) for r in _list(st.get("Resource"))):
                continue
            if not _condition_ok(st.get("Condition", {}), context):
                continue
            if st["Effect"] == "Deny":
                return False
            allowed = True
        return allowed

    def actions(self) -> set[str]:
        return {a for st in self.statements if st["Effect"] == "Allow" for a in _list(st.get("Action"))}

    def for_service(self, service: str) -> Policy:
        """The statements of a resource policy (a topic's, a key's) that apply to a call made by the
        AWS service ``service`` (its Principal names that service principal, or is "*")."""
        return Policy([st for st in self.statements if service in service_principals(st) or st.get("Principal") == "*"])


def service_principals(statement: dict[str, Any]) -> set[str]:
    """The service principals (``budgets.amazonaws.com``) a resource-policy statement names."""
    principal = statement.get("Principal")
    return set(_list(principal.get("Service"))) if isinstance(principal, dict) else set()


def _list_statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    st = doc["Statement"]
    return [st] if isinstance(st, dict) else st


# botocore operation → IAM action, where the names differ
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
S3_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket", "HeadObject": "s3:GetObject",
    "DeleteObjects": "s3:DeleteObject", "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject", "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "HeadBucket": "s3:ListBucket",
}


@dataclass
class Recorder:
    """Every AWS call made through the clients it is attached to, as the authorizations it needs."""

    account: str
    region: str
    calls: list[Call] = field(default_factory=list)
    misses: list[tuple[str, str]] = field(default_factory=list)  # (bucket, key) answered 404

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build", self._before)
        client.meta.events.register("after-call", self._after)
        return client

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["iam_params"] = params
        self.calls.extend(self.authorizations(model.service_model.endpoint_prefix, model.name, params))

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        status = (parsed or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if model.service_model.endpoint_prefix == "s3" and model.name in ("GetObject", "HeadObject") and status == 404:
            params = context.get("iam_params", {})
            self.misses.append((params.get("Bucket", ""), params.get("Key", "")))

    def authorizations(self, service: str, op: str, p: dict[str, Any]) -> list[Call]:
        arn = f"arn:aws:{{}}:{self.region}:{self.account}:{{}}"
        if service == "s3":
            action = S3_ACTIONS.get(op, f"s3:{op}")
            bucket = p.get("Bucket", "")
            if op == "DeleteObjects":
                return [Call(action, f"arn:aws:s3:::{bucket}/{o['Key']}") for o in p["Delete"]["Objects"]]
            if op == "CopyObject":
                src = p["CopySource"]
                return [Call("s3:GetObject", f"arn:aws:s3:::{src['Bucket']}/{src['Key']}"),
                        Call("s3:PutObject", f"arn:aws:s3:::{bucket}/{p['Key']}")]
            if "Key" in p:
                return [Call(action, f"arn:aws:s3:::{bucket}/{p['Key']}")]
            prefix = (("s3:prefix", p["Prefix"]),) if "Prefix" in p else ()
            return [Call(action, f"arn:aws:s3:::{bucket}", prefix)]
        if service == "kinesis":
            name = p.get("StreamName") or p.get("StreamARN", "").rpartition("/")[2]
            return [Call(f"kinesis:{op}", arn.format("kinesis", f"stream/{name}"))]
        if service == "firehose":
            return [Call(f"firehose:{op}", arn.format("firehose", f"deliverystream/{p['DeliveryStreamName']}"))]
        if service == "ssm":
            names = p.get("Names") or [p["Name"]]
            return [Call(f"ssm:{op}", arn.format("ssm", f"parameter{n}")) for n in names]
        if service == "monitoring":
            return [Call(f"cloudwatch:{op}", "*", (("cloudwatch:namespace", p.get("Namespace", "")),))]
        if service == "kms":
            return [Call(f"kms:{op}", p["KeyId"])]
        raise AssertionError(f"no IAM mapping for {service}:{op}: add it (with its resource) to iam_eval.py")
