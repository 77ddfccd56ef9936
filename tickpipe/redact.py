"""No log line carries a secret, at any level.

Two guards, installed once per process by :func:`install` (importing fyers.token_store does it):

- botocore logs request and response bodies at DEBUG (``tickpipe -v``): for SSM they hold the
  decrypted token, refresh token, app secret and PIN. Any record from botocore, boto3, s3transfer or
  urllib3 that carries an SSM parameter call or body is replaced by a one-line notice.
- Every value read from or written to a secret parameter is registered (:func:`register`: the
  token store and the token service do; at DEBUG every SSM response body botocore would log
  registers its values too) and replaced by ``***`` wherever it appears in any log record.

Both work on the record as it is made (a log record factory), so they apply to every handler,
formatter and logging library (Powertools too) without configuring each.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import threading
from typing import Any, Final

MIN_SECRET_LENGTH: Final = 4  # a PIN has 4 digits
WHOLE_WORD_BELOW: Final = 8  # shorter secrets are redacted only where they stand alone
SSM_MARKERS: Final = ("AmazonSSM.", "GetParameter", "PutParameter", "SecureString", '"Parameter"', "'Parameter'",
                      '"Parameters"', "'Parameters'", '\\"Parameter\\"')
LIBRARY_LOGGERS: Final = ("botocore", "boto3", "s3transfer", "urllib3")
NOTICE: Final = "[SSM request/response not logged: it may hold secrets]"

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register(*values: Any) -> None:
    """Never log these values (tokens, the app secret, the PIN, ...)."""
    new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    if new:
        with _lock:
            _secrets.update(new)


def _register_ssm_values(message: str) -> None:
    """An SSM response body that botocore is about to log: its parameter values are secrets, however
    the code that asked for them treats them (they are kept out of later records too)."""
    head, _, body = message.partition("\n")
    if head != "Response body:":
        return
    try:
        doc = json.loads(ast.literal_eval(body))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return
    params = [doc.get("Parameter")] + list(doc.get("Parameters") or []) if isinstance(doc, dict) else []
    register(*(p.get("Value") for p in params if isinstance(p, dict)))


def scrub(name: str, message: str) -> str:
    """``message`` as it may be logged by logger ``name``."""
    if name.startswith(LIBRARY_LOGGERS) and any(m in message for m in SSM_MARKERS):
        _register_ssm_values(message)
        return NOTICE
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a longer secret before any part of it
    for secret in secrets:
        if secret not in message:
            continue
        if len(secret) < WHOLE_WORD_BELOW:  # a PIN: only as a word of its own, not inside 17950612345
            message = re.sub(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", "***", message)
        else:
            message = message.replace(secret, "***")
    return message


def install() -> None:
    """Wrap the log record factory (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call is logging's to report, not ours
            return record
        clean = scrub(record.name, message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)
