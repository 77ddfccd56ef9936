"""The lake bucket as compaction sees it: raw objects, JSON state documents, curated files, quarantine."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import orjson

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef, ObjectTypeDef

log = logging.getLogger(__name__)


class LakeStore:
    """Thin S3 edge: every call compaction makes to the bucket goes through here."""

    def __init__(self, bucket: str, s3: S3Client | None = None) -> None:
        self.bucket = bucket
        self.s3 = s3 or boto3.client("s3")

    def list(self, prefix: str) -> Iterator[ObjectTypeDef]:
        """Objects under ``prefix`` (Key, Size, ETag, LastModified), in key order."""
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def get_json(self, key: str) -> Any | None:
        try:
            return orjson.loads(self.get(key))
        except self.s3.exceptions.NoSuchKey:
            return None

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def put_json(self, key: str, doc: Any) -> None:
        self.put(key, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS), "application/json")

    def upload(self, path: str, key: str) -> None:
        self.s3.upload_file(path, self.bucket, key)

    def download(self, key: str, path: str) -> None:
        self.s3.download_file(self.bucket, key, path)

    def copy(self, src: str, dst: str) -> None:
        self.s3.copy_object(Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src})

    def delete(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), 1000):
            chunk: list[ObjectIdentifierTypeDef] = [{"Key": k} for k in keys[i : i + 1000]]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DirStore(LakeStore):
    """The same interface over a local directory (bucket = the directory): benchmarks and offline runs."""

    def __init__(self, root: str) -> None:
        self.bucket = root
        self.root = root

    def _path(self, key: str) -> str:
        return os.path.join(self.root, key)

    def list(self, prefix: str) -> Iterator[ObjectTypeDef]:
        base = os.path.dirname(self._path(prefix))
        found: list[ObjectTypeDef] = []
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                key = os.path.relpath(os.path.join(dirpath, f), self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    st = os.stat(os.path.join(dirpath, f))
                    found.append({"Key": key, "Size": st.st_size, "ETag": f'"{st.st_size}-{st.st_mtime_ns}"',
                                  "LastModified": datetime.fromtimestamp(st.st_mtime, UTC)})
        yield from sorted(found, key=lambda o: o["Key"])

    def get(self, key: str) -> bytes:
        with open(self._path(key), "rb") as f:
            return f.read()

    def get_json(self, key: str) -> Any | None:
        return orjson.loads(self.get(key)) if os.path.exists(self._path(key)) else None

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        os.makedirs(os.path.dirname(self._path(key)), exist_ok=True)
        with open(self._path(key), "wb") as f:
            f.write(body)

    def upload(self, path: str, key: str) -> None:
        os.makedirs(os.path.dirname(self._path(key)), exist_ok=True)
        shutil.copyfile(path, self._path(key))

    def download(self, key: str, path: str) -> None:
        shutil.copyfile(self._path(key), path)

    def copy(self, src: str, dst: str) -> None:
        self.upload(self._path(src), dst)

    def delete(self, keys: Sequence[str]) -> None:
        for k in keys:
            if os.path.exists(self._path(k)):
                os.remove(self._path(k))

    def uri(self, key: str) -> str:
        return "file://" + os.path.abspath(self._path(key))
