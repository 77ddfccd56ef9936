"""What a botocore exception says: its AWS error code, read without tripping over a missing answer.

A ``ClientError`` carries the service's answer in ``response["Error"]["Code"]``. An error raised
before any answer exists (``ConnectionClosedError``, ``ReadTimeoutError``,
``EndpointConnectionError``, any ``BotoCoreError``) has no ``response``, and botocore lets a
``ClientError`` be built with ``response=None`` or without an ``Error``. Every caller that tells
"denied" or "missing" from "transient" reads the code here. No botocore import: the exception is
only looked at.
"""

from __future__ import annotations


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``"NoSuchKey"``, ``"403"`` …), else ""."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""
