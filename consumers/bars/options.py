"""Options of the bars handler: ``TICKPIPE_BARS_*`` variables (Terraform sets them on the function).

Built by the configuration helper (tickpipe/options.py): typed from the annotations, each range
checked however the options are made; a bad value is a :class:`BarsConfigError` naming the variable.
The bar builder's knobs take :class:`market.bars.BarConfig`'s defaults, so they are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from consumers.bars.errors import BarsConfigError
from market.bars import BarConfig
from market.session import BAR_SECONDS, BARS_PER_NORMAL_SESSION
from tickpipe.config import Settings
from tickpipe.options import Options, option

# Lambda's limit is 1 MB of window state per shard; past it the window ends early with an empty state.
STATE_LIMIT: Final = 1_000_000
_BAR: Final = BarConfig()


@dataclass(frozen=True)
class BarsOptions(Options):
    """Each field is ``TICKPIPE_BARS_<FIELD>``; a keyword of :class:`~consumers.bars.handler.BarsConsumer` wins over it."""

    ENV_PREFIX: ClassVar[str] = "TICKPIPE_BARS_"
    ERROR: ClassVar[type[BarsConfigError]] = BarsConfigError

    # exchange seconds after a bucket's end before its bar is final (less than a bucket)
    grace_s: int = option(_BAR.grace_s, ge=0, lt=BAR_SECONDS, unit="seconds")
    # emitted bars per symbol kept amendable by late ticks (at most a session's)
    amend_bars: int = option(_BAR.amend_bars, ge=1, le=BARS_PER_NORMAL_SESSION)
    # bytes of state carried in the response, else in the S3 checkpoint (at most 90% of Lambda's limit)
    state_budget: int = option(600_000, ge=1_000, le=STATE_LIMIT // 10 * 9, unit="bytes")

    def bar_config(self, overrides: str = "") -> BarConfig:
        """The bar builder's configuration, with the session overrides (market.session.parse_overrides)."""
        try:
            return BarConfig.from_text(self.grace_s, self.amend_bars, overrides=overrides)
        except ValueError as exc:  # a malformed TICKPIPE_SESSION_OVERRIDES (market.errors.CalendarError)
            raise BarsConfigError(f"{Settings.env_var('session_overrides')}: {exc}") from None


ENV_VARS: dict[str, str] = BarsOptions.env_vars()
