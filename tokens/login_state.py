"""Single-use server-side records of the login page, in SSM under the stack's KMS key.

- an OAuth ``state`` (``<prefix>login/state/<sha256(state)>``): created by ``POST /login``, bound to
  the browser session that asked for it, consumed by ``/callback`` within STATE_TTL;
- a used login link (``<prefix>login/used/<nonce>``): written when a link is redeemed, so it works once.

Why SSM and not S3: consuming must be atomic. ``DeleteParameter`` succeeds for exactly one caller
and answers ``ParameterNotFound`` to every other, and ``PutParameter`` without ``Overwrite`` answers
``ParameterAlreadyExists``: two racing callbacks (or two tabs opening one link) cannot both win.
S3's DeleteObject succeeds whether or not the key existed, so a read-then-delete would let a race
through. SSM's standard tier is free, and its ~3 writes/s is plenty for a person logging in. SSM has
no TTL for standard parameters, so expiry is checked on use and expired records are swept (a bounded
number per sweep) whenever a new state is created.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import orjson

from fyers.token_store import kms_key_arg
from tickpipe import names
from tokens.errors import LinkReusedError, StateError

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

STATE_TTL: Final = 10 * 60  # a Fyers login takes a minute; ten is generous
SWEEP_MAX: Final = 50  # expired records deleted per sweep, at most

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StateRecord:
    created_at: int
    expires_at: int
    sid_hash: str


class LoginRecords:
    """States and used-link markers under ``<prefix>login/`` (boto3 SSM client, the stack's key)."""

    def __init__(self, ssm: SSMClient, prefix: str, key_id: str | None = None) -> None:
        self.ssm = ssm
        self.states = prefix + names.SSM_LOGIN_STATES
        self.used = prefix + names.SSM_LOGIN_USED
        self.key_id = key_id

    def _put(self, name: str, value: str) -> None:
        self.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=False,
                               **kms_key_arg(self.key_id))

    @staticmethod
    def _state_name(state: str) -> str:
        # The hash, not the state: parameter names show in CloudTrail and DescribeParameters.
        return hashlib.sha256(state.encode()).hexdigest()

    # -- OAuth state ------------------------------------------------------------------------------
    def create_state(self, state: str, sid_hash: str, now: float | None = None) -> StateRecord:
        now = int(time.time() if now is None else now)
        record = StateRecord(now, now + STATE_TTL, sid_hash)
        self._put(self.states + self._state_name(state), orjson.dumps(record.__dict__).decode())
        return record

    def consume_state(self, state: str | None, sid_hash: str, now: float | None = None) -> StateRecord:
        """Verify and delete the state. Raises StateError (nothing is consumed for a missing one)."""
        now = time.time() if now is None else now
        if not state:
            raise StateError("the callback carries no state: start the login from the status page")
        if len(state) > 200:
            raise StateError("the callback's state is not one this page issued")
        name = self.states + self._state_name(state)
        try:
            value = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            self.ssm.delete_parameter(Name=name)  # exactly one caller gets past this line
        except self.ssm.exceptions.ParameterNotFound:
            raise StateError("the callback's state is unknown or already used: start the login again "
                             "from the status page") from None
        try:
            data = orjson.loads(value)
            record = StateRecord(int(data["expires_at"]) - STATE_TTL, int(data["expires_at"]), str(data["sid_hash"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise StateError("the stored state is unreadable: start the login again") from None
        if now >= record.expires_at:
            raise StateError(f"the login took longer than {STATE_TTL // 60} minutes: start it again")
        if record.sid_hash != sid_hash:
            raise StateError("the callback's state was issued to another browser session")
        return record

    # -- used links -------------------------------------------------------------------------------
    def mark_link_used(self, nonce: str, expires_at: int) -> None:
        """Record the link's nonce; raises LinkReusedError if it was recorded before."""
        try:
            self._put(self.used + nonce, str(expires_at))
        except self.ssm.exceptions.ParameterAlreadyExists:
            raise LinkReusedError("this login link was used before: links work once; mint a new one") from None

    # -- housekeeping -----------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        """Delete up to SWEEP_MAX expired states and markers of expired links. Returns how many."""
        now = time.time() if now is None else now
        deleted = 0
        for path, expiry in ((self.states, _state_expiry), (self.used, _used_expiry)):
            paginator = self.ssm.get_paginator("get_parameters_by_path")
            for page in paginator.paginate(Path=path.rstrip("/"), WithDecryption=True):
                for param in page["Parameters"]:
                    if deleted >= SWEEP_MAX:
                        return deleted
                    if expiry(param["Value"]) <= now:
                        try:
                            self.ssm.delete_parameter(Name=param["Name"])
                            deleted += 1
                        except self.ssm.exceptions.ParameterNotFound:
                            pass  # consumed meanwhile
        return deleted


def _state_expiry(value: str) -> float:
    try:
        return float(orjson.loads(value)["expires_at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0.0  # unreadable: sweep it


def _used_expiry(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0
