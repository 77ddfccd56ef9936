"""base64url as JSON Web Tokens use it (RFC 7515 §2: no padding), and a token's JSON segment, for the
client and the simulator.

Fyers access tokens are JWTs; the client reads their payload (fyers/auth.py) and the simulator signs
and checks the ones it issues (fyers/sim/credentials.py). Both use these functions: how a JWT is
spelled is vocabulary (RFC 7519), not one of the Fyers rules the simulator restates on purpose.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Bytes of base64url ``text``, padded or not; raises binascii.Error (a ValueError) on bad input."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_json(segment: str) -> dict[str, Any]:
    """The JSON object a JWT segment (header or payload) holds. Raises ValueError saying what it is
    not (for the caller to prefix with which token): "not base64url JSON" or "not a JSON object"."""
    try:
        value = orjson.loads(b64url_decode(segment))
    except (binascii.Error, ValueError):  # orjson.JSONDecodeError is a ValueError
        raise ValueError("not base64url JSON") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value
