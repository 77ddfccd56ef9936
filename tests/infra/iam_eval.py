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
- KMS, which moto never calls: the services call it with the caller's permissions, so each call
  also needs these on the resource's key (``Keys``; ``Recorder`` records them beside the call):
  an object written to a bucket whose default encryption is SSE-KMS needs kms:GenerateDataKey, reading
  one kms:Decrypt (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html,
  "Permissions"); a record put to a KMS-encrypted stream kms:GenerateDataKey
  (https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html, "Example producer
  permissions"); a standard SecureString written with a customer managed key kms:Encrypt, read
  kms:Decrypt (https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html,
  "Encrypting and decrypting standard parameters"); a message published to a KMS-encrypted topic
  kms:GenerateDataKey and kms:Decrypt
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html, "Configuring AWS KMS
  permissions": publishers).
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

    def grants(self) -> list[tuple[str, str]]:
        """Every (action, resource) an Allow statement grants."""
        return [(a, r) for st in self.statements if st["Effect"] == "Allow"
                for a in _list(st.get("Action")) for r in _list(st.get("Resource"))]

    @staticmethod
    def grant_matches(action: str, resource: str, call: Call) -> bool:
        """Whether ``call`` is one that the grant (``action`` on ``resource``) authorizes."""
        return _match(action, call.action, case=False) and _match(resource, call.resource)

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


@dataclass
class Keys:
    """Which KMS key encrypts what: the lake bucket's default key, the streams', the topics', and a
    lookup of a SecureString's key by parameter name (None: not a SecureString, or AWS's own key)."""

    buckets: dict[str, str] = field(default_factory=dict)
    streams: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    parameter: Any = None  # Callable[[str], str | None]


S3_WRITES = {"PutObject", "CreateMultipartUpload", "CopyObject"}
S3_READS = {"GetObject", "CopyObject"}  # HeadObject returns metadata only: no decryption


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
    keys: Keys | None = None  # None: KMS is not modelled
    calls: list[Call] = field(default_factory=list)
    misses: list[tuple[str, str]] = field(default_factory=list)  # (bucket, key) answered 404

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build", self._before)
        client.meta.events.register("after-call", self._after)
        return client

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["iam_params"] = params
        service = model.service_model.endpoint_prefix
        self.calls.extend(self.authorizations(service, model.name, params))
        if self.keys is not None:
            self.calls.extend(self.key_uses(service, model.name, params, self.keys))

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        status = (parsed or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if (self.keys is not None and model.service_model.endpoint_prefix == "s3" and model.name in S3_READS
                and status == 200):
            params = context.get("iam_params", {})
            bucket = params.get("Bucket", "")
            if model.name == "CopyObject":
                bucket = params["CopySource"]["Bucket"]
            if bucket in self.keys.buckets:
                self.calls.append(Call("kms:Decrypt", self.keys.buckets[bucket], note=f"S3 GetObject of s3://{bucket}"))
        if model.service_model.endpoint_prefix == "s3" and model.name in ("GetObject", "HeadObject") and status == 404:
            params = context.get("iam_params", {})
            self.misses.append((params.get("Bucket", ""), params.get("Key", "")))
            # S3 evaluates s3:ListBucket to answer 404 rather than 403 (the S3 rule above)
            self.calls.append(Call("s3:ListBucket", f"arn:aws:s3:::{params.get('Bucket', '')}",
                                   note="a GET of a missing key"))

    @staticmethod
    def key_uses(service: str, op: str, p: dict[str, Any], keys: Keys) -> list[Call]:
        """The KMS permissions the service uses with the caller's credentials for this call (the
        rules in this module's docstring); S3 reads are added once the object was found (_after)."""
        def use(action: str, key: str | None, why: str) -> list[Call]:
            return [Call(action, key, note=why)] if key else []

        if service == "s3" and op in S3_WRITES:
            return use("kms:GenerateDataKey", keys.buckets.get(p.get("Bucket", "")), f"S3 {op}")
        if service == "kinesis" and op in ("PutRecord", "PutRecords"):
            name = p.get("StreamName") or p.get("StreamARN", "").rpartition("/")[2]
            return use("kms:GenerateDataKey", keys.streams.get(name), f"Kinesis {op}")
        if service == "sns" and op == "Publish":
            key = keys.topics.get(p.get("TopicArn", ""))
            return use("kms:GenerateDataKey", key, "SNS Publish") + use("kms:Decrypt", key, "SNS Publish")
        if service == "ssm" and op == "PutParameter" and p.get("Type") == "SecureString":
            return use("kms:Encrypt", p.get("KeyId") or keys.parameter(p["Name"]), "SSM PutParameter")
        if service == "ssm" and op in ("GetParameter", "GetParameters") and p.get("WithDecryption"):
            return [c for name in (p.get("Names") or [p["Name"]])
                    for c in use("kms:Decrypt", keys.parameter(name), f"SSM {op} {name}")]
        if service == "ssm" and op == "GetParametersByPath" and p.get("WithDecryption"):
            return use("kms:Decrypt", keys.parameter(p["Path"]), f"SSM {op} {p['Path']}")
        return []

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
            if op == "GetParametersByPath":  # authorized on the path itself (a parameter ARN without "/*")
                return [Call(f"ssm:{op}", arn.format("ssm", f"parameter{p['Path'].rstrip('/')}"))]
            names = p.get("Names") or [p["Name"]]
            return [Call(f"ssm:{op}", arn.format("ssm", f"parameter{n}")) for n in names]
        if service == "sns":
            return [Call(f"sns:{op}", p.get("TopicArn") or p.get("TargetArn", ""))]
        if service == "monitoring":
            return [Call(f"cloudwatch:{op}", "*", (("cloudwatch:namespace", p.get("Namespace", "")),))]
        if service == "kms":
            return [Call(f"kms:{op}", p["KeyId"])]
        raise AssertionError(f"no IAM mapping for {service}:{op}: add it (with its resource) to iam_eval.py")
