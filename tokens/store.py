"""Moved to fyers/token_store.py, below both the producer and the token service (docs/DESIGN.md layers).

This name is kept for code written against it before the move; new code imports ``fyers.token_store``.
"""

from fyers.token_store import (  # noqa: F401
    REFRESH_TTL,
    FyersToken,
    TokenNotFoundError,
    TokenStore,
    TokenStoreError,
    register_token,
)
