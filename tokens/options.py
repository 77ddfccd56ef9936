"""Options of the token service beside :class:`tickpipe.config.Settings`: the KMS key its SecureStrings
are written with and when the login function sends its reminder. Terraform sets them on the token and
login functions (infra/main.tf, infra/login.tf).

Built by the configuration helper (tickpipe/options.py): typed from the annotations, each range
checked however the options are made; a bad value is a ConfigError naming the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from tickpipe.options import Options, option

NO_KEY: Final = "none"  # any case: no KeyId, SSM's default key for the account (aws/ssm)
# What KMS takes as a KeyId (KMS API reference, "KeyId" of Encrypt/DescribeKey,
# https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html): a key id (a UUID), a key
# ARN, an alias name ("alias/" then letters, digits, /, _ and -) or an alias ARN.
_UUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ALIAS: Final = r"alias/[a-zA-Z0-9/_-]+"
_ARN: Final = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:"
KMS_KEY_PATTERN: Final = rf"(?i:{NO_KEY})|{_UUID}|{_ALIAS}|{_ARN}(?:key/{_UUID}|{_ALIAS})"
KMS_KEY_SHAPE: Final = ("a KMS key id (a UUID), key ARN, alias name (alias/...) or alias ARN, "
                        f"or {NO_KEY!r} for the account's aws/ssm key")


@dataclass(frozen=True)
class TokenOptions(Options):
    """Each field is ``TICKPIPE_<FIELD>``."""

    ENV_PREFIX: ClassVar[str] = "TICKPIPE_"

    # the KMS key the token and the login records are written with: the stack's secrets key on AWS;
    # unset locally (moto) or ``none``, where SSM uses the account's aws/ssm key
    token_kms_key: str = option("", pattern=KMS_KEY_PATTERN, also=("",), shape=KMS_KEY_SHAPE)
    # the login function e-mails a login link once the refresh token (15 days) has fewer days left
    login_remind_days: float = option(2.0, gt=0, lt=15, unit="days")

    @property
    def key_id(self) -> str | None:
        """The KMS key for SSM's ``KeyId``, or None for the account's default key (unset or ``none``)."""
        return None if self.token_kms_key.lower() in ("", NO_KEY) else self.token_kms_key


ENV_VARS: dict[str, str] = TokenOptions.env_vars()
KMS_KEY_VAR: Final = ENV_VARS["token_kms_key"]
REMIND_DAYS_VAR: Final = ENV_VARS["login_remind_days"]
