"""base64url as JSON Web Tokens use it (RFC 7515 §2: no padding), for the client and the simulator.

Fyers access tokens are JWTs; the client reads their payload (fyers/auth.py) and the simulator signs
and checks the ones it issues (fyers/sim/credentials.py). Both use these two functions.
"""

from __future__ import annotations

import base64


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Bytes of base64url ``text``, padded or not; raises binascii.Error (a ValueError) on bad input."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
