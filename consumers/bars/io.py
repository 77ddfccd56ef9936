"""The bars consumer's edges: bar records to Firehose, poison to the quarantine, shard checkpoints.

Every write is idempotent or harmless to repeat: bars are re-sent with the same (sym, start, rev)
and compaction keeps one; quarantine and checkpoint keys are fixed by shard and sequence number.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from consumers.bars.errors import AccessDeniedError, TransientError
from tickpipe import names
from tickpipe.aws_errors import error_code
from tickpipe.backoff import Backoff, Jitter

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_s3 import S3Client

# Firehose PutRecordBatch limits (API reference): 500 records, 4 MiB a call, 1,000 KiB a record.
BATCH_RECORDS: Final = 500
BATCH_BYTES: Final = 4 * 1024 * 1024
ATTEMPTS: Final = 4
BACKOFF_S: Final = 0.1
CHECKPOINTS: Final = names.STATE + "bars/"
QUARANTINE: Final = names.QUARANTINE + "bars/"

AWS_ERRORS = (BotoCoreError, ClientError)
# S3 error codes that mean "this role may not", which no retry cures.
DENIED_CODES: Final = frozenset({"AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId"})


class BarSink:
    """PutRecordBatch to the bars delivery stream, retrying the records that failed."""

    def __init__(self, firehose: FirehoseClient, delivery_stream: str, *, attempts: int = ATTEMPTS,
                 backoff_s: float = BACKOFF_S) -> None:
        self.firehose = firehose
        self.name = delivery_stream
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.calls = 0

    def put(self, lines: Sequence[bytes]) -> None:
        """Deliver every line, in batches within the limits. Raises TransientError(index) with the
        index of the first line that did not land after every attempt."""
        start = 0
        while start < len(lines):
            end, size = start, 0
            while end < len(lines) and end - start < BATCH_RECORDS and size + len(lines[end]) <= BATCH_BYTES:
                size += len(lines[end])
                end += 1
            self._put_batch(lines, list(range(start, end)))
            start = end

    def _put_batch(self, lines: Sequence[bytes], pending: list[int]) -> None:
        error = ""
        backoff = Backoff(self.backoff_s, jitter=Jitter.NONE)  # this invocation is the shard's only writer
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(backoff.delay(attempt - 1))
            try:
                self.calls += 1
                resp = self.firehose.put_record_batch(
                    DeliveryStreamName=self.name, Records=[{"Data": lines[i]} for i in pending])
            except AWS_ERRORS as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if not resp.get("FailedPutCount"):
                return
            results = resp["RequestResponses"]
            failed = [i for i, r in zip(pending, results, strict=True) if r.get("ErrorCode")]
            error = next(r.get("ErrorMessage") or r["ErrorCode"] for r in results if r.get("ErrorCode"))
            pending = failed
        raise TransientError(f"Firehose {self.name}: {len(pending)} bar records not delivered after "
                             f"{self.attempts} attempts ({error})", index=pending[0])


class Lake:
    """Quarantine objects and per-shard checkpoints in the lake bucket."""

    def __init__(self, s3: S3Client, bucket: str, stream: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.stream = stream

    def checkpoint_key(self, shard: str) -> str:
        return f"{CHECKPOINTS}{self.stream}/{shard}.json"

    def load_checkpoint(self, shard: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.checkpoint_key(shard))["Body"].read()
        except ClientError as exc:
            code = error_code(exc)
            if code in ("NoSuchKey", "404"):
                return None
            uri = f"s3://{self.bucket}/{self.checkpoint_key(shard)}"
            if code in DENIED_CODES:
                # Without s3:ListBucket S3 reports a missing key as 403 too (infra/iam.tf, bars role).
                raise AccessDeniedError(
                    f"reading checkpoint {uri} was denied ({code}): the bars role needs s3:GetObject on "
                    f"{CHECKPOINTS}* and s3:ListBucket on the bucket (infra/iam.tf)") from exc
            raise TransientError(f"reading checkpoint {uri}: {exc}") from exc
        except BotoCoreError as exc:
            raise TransientError(f"reading checkpoint of {shard}: {exc}") from exc
        return orjson.loads(body)

    def save_checkpoint(self, shard: str, body: bytes) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.checkpoint_key(shard), Body=body,
                               ContentType="application/json")
        except ClientError as exc:
            if error_code(exc) in DENIED_CODES:
                raise AccessDeniedError(
                    f"writing checkpoint s3://{self.bucket}/{self.checkpoint_key(shard)} was denied: the bars role "
                    f"needs s3:PutObject on {CHECKPOINTS}* (infra/iam.tf)") from exc
            raise TransientError(f"writing checkpoint of {shard}: {exc}") from exc
        except BotoCoreError as exc:
            raise TransientError(f"writing checkpoint of {shard}: {exc}") from exc

    def quarantine_key(self, day: str, shard: str, seq: str, sub: int, kind: str) -> str:
        return f"{QUARANTINE}{kind}/dt={day}/{self.stream}/{shard}/{seq}-{sub}.json"

    def quarantine(self, key: str, *, reason: str, data: bytes, shard: str, seq: str, sub: int) -> None:
        """One quarantined item: the reason, where it came from, and its bytes (base64 unless text)."""
        try:
            text: str | None = data.decode()
        except UnicodeDecodeError:
            text = None
        doc = {"reason": reason, "stream": self.stream, "shard": shard, "seq": seq, "sub": sub,
               "data": text, "data_b64": None if text is not None else base64.b64encode(data).decode()}
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=orjson.dumps(doc) + b"\n",
                               ContentType="application/json")
        except AWS_ERRORS as exc:
            raise TransientError(f"writing quarantine object {key}: {exc}") from exc
