"""Configuration from ``TICKPIPE_*`` environment variables: one Settings object for every process.

Local or AWS mode is configuration, never code: in local mode ``AWS_ENDPOINT_URL`` points every
boto3 client at the moto server (boto3 reads it natively) and ``TICKPIPE_FYERS_API_URL`` /
``TICKPIPE_FYERS_WS_URL`` point the Fyers client at the simulator. Terraform sets the same variables
on every function and task; ``ENV_VARS`` is the list a test checks Terraform against.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from tickpipe import names
from tickpipe.errors import ConfigError
from tickpipe.options import Options, option

FYERS_API_URL = "https://api-t1.fyers.in"
FYERS_WS_URL = "wss://socket.fyers.in/hsm/v1-5/prod"


# AWS region names: partition-specific prefixes (us-gov-, cn-, eu-isoe- …), an area and a number.
REGION_PATTERN = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}"
# A known geography word stands between the two ('mars-1' has none): AWS's region list.
REGION_AREAS = ("north", "south", "east", "west", "central", "northeast", "northwest", "southeast", "southwest")


@dataclass(frozen=True)
class Settings(Options):
    ENV_PREFIX: ClassVar[str] = "TICKPIPE_"

    env: str = option("dev", pattern=r"[A-Za-z0-9-]+", shape="letters, digits and '-'")
    region: str = option("ap-south-1", pattern=REGION_PATTERN, shape="an AWS region name such as ap-south-1")
    stream: str = ""
    raw_firehose: str = ""
    bars_firehose: str = ""
    bucket: str = ""
    ssm_prefix: str = ""
    alarm_topic_arn: str = ""
    # Where the producer's symbol universe comes from: a path, s3://bucket/key or ssm:/name.
    symbols: str = ""
    fyers_api_url: str = FYERS_API_URL
    fyers_ws_url: str = FYERS_WS_URL
    # Special sessions and closures, see market.session.parse_overrides.
    session_overrides: str = ""
    producer_id: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.region.split("-")[-2] not in REGION_AREAS:
            raise ConfigError(f"{self.label('region')} must be an AWS region name such as ap-south-1, "
                              f"got {self.region!r}")
        env = self.env
        defaults = {
            "stream": names.stream(env),
            "raw_firehose": names.raw_firehose(env),
            "bars_firehose": names.bars_firehose(env),
            "bucket": names.bucket(env),
            "ssm_prefix": names.ssm_prefix(env),
            "producer_id": f"{env}-producer",
        }
        for key, value in defaults.items():
            if not getattr(self, key):
                object.__setattr__(self, key, value)
        if not self.ssm_prefix.startswith("/") or not self.ssm_prefix.endswith("/"):
            raise ConfigError(f"TICKPIPE_SSM_PREFIX must start and end with '/', got {self.ssm_prefix!r}")

    @classmethod
    def label(cls, name: str) -> str:
        return "AWS_REGION (or TICKPIPE_REGION)" if name == "region" else cls.env_var(name)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every ``TICKPIPE_<FIELD>`` (and AWS_REGION / AWS_DEFAULT_REGION for the region);
        non-empty ``overrides`` win."""
        environ = os.environ if environ is None else environ
        if not environ.get(ENV_VARS["region"]):
            region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
            if region:
                environ = {**environ, ENV_VARS["region"]: region}
        return super().from_env(environ, **{k: v for k, v in overrides.items() if v})

    def ssm_name(self, key: str) -> str:
        """Full SSM parameter name, e.g. ``/tickpipe/dev/fyers/token``."""
        return self.ssm_prefix + key

    def environ(self) -> dict[str, str]:
        """These settings as ``TICKPIPE_*`` variables, for child processes and Lambda configuration."""
        return {ENV_VARS[f.name]: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)}


ENV_VARS: dict[str, str] = {f.name: f"TICKPIPE_{f.name.upper()}" for f in fields(Settings)}
