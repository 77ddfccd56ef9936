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


@dataclass(frozen=True)
class TokenOptions(Options):
    """Each field is ``TICKPIPE_<FIELD>``."""

    ENV_PREFIX: ClassVar[str] = "TICKPIPE_"

    # the KMS key the token and the login records are written with: the stack's secrets key on AWS;
    # unset locally (moto), where SSM uses the account's aws/ssm key
    token_kms_key: str = ""
    # the login function e-mails a login link once the refresh token (15 days) has fewer days left
    login_remind_days: float = option(2.0, gt=0, lt=15, unit="days")

    @property
    def key_id(self) -> str | None:
        """The KMS key for SSM's ``KeyId``, or None for the account's default key."""
        return self.token_kms_key or None


ENV_VARS: dict[str, str] = TokenOptions.env_vars()
KMS_KEY_VAR: Final = ENV_VARS["token_kms_key"]
REMIND_DAYS_VAR: Final = ENV_VARS["login_remind_days"]
