"""Options of a component: a frozen dataclass read from the environment, typed and range-checked once.

Every component's knobs are a frozen dataclass deriving from :class:`Options`. Each field is typed
by its annotation (``int``, ``float``, ``str``, ``bool``), may carry a range and a set of choices
(:func:`option`), and is read from ``<ENV_PREFIX><FIELD>``; explicit arguments (a command-line flag, a
caller's keyword) win over the environment, which wins over the default. Values are checked however
the object is made, so ``Options(...)`` in code gets the same errors as a variable: floats must be
finite, numbers inside their range, strings among their choices. A bad value raises
:class:`tickpipe.errors.ConfigError` naming the variable, the rule and the value; the commands turn it
into a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from tickpipe.errors import ConfigError

_RULE = "tickpipe.rule"


@dataclass(frozen=True)
class Rule:
    """What a field accepts: a closed or half-open range, choices, and values allowed outside the range."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] = ()
    also: tuple[Any, ...] = ()  # accepted outside the range, e.g. -1 = "off"
    unit: str = ""
    pattern: str = ""  # a string must match it whole (re.fullmatch)
    shape: str = ""  # the pattern in words, for the message

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.pattern:
            return self.shape or f"of the form {self.pattern}"
        low = f"> {self.gt:g}" if self.gt is not None else f">= {self.ge:g}" if self.ge is not None else ""
        high = f"< {self.lt:g}" if self.lt is not None else f"<= {self.le:g}" if self.le is not None else ""
        text = " and ".join(p for p in (low, high) if p) or "a finite number"
        text += f" {self.unit}" if self.unit else ""
        if self.also:
            text += " (or " + ", ".join(str(a) for a in self.also) + ")"
        return text

    def accepts(self, value: Any) -> bool:
        if value in self.also:
            return True
        if self.choices:
            return value in self.choices
        if self.pattern and isinstance(value, str):
            return re.fullmatch(self.pattern, value) is not None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True  # only numbers have ranges
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))


def option(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None, choices: tuple[Any, ...] = (), also: tuple[Any, ...] = (),
           unit: str = "", pattern: str = "", shape: str = "") -> Any:
    """A dataclass field with a default and the values it accepts."""
    rule = Rule(ge=ge, gt=gt, le=le, lt=lt, choices=tuple(choices), also=tuple(also), unit=unit,
                pattern=pattern, shape=shape)
    return dataclasses.field(default=default, metadata={_RULE: rule})


def _parse(kind: type, raw: str) -> Any:
    if kind is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if kind is int:
        return int(raw.strip())
    if kind is float:
        return float(raw.strip())
    return raw


def _kind(hint: Any) -> type:
    """int, float, str or bool from an annotation (``X | None`` counts as X)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


class Options:
    """Base of every component's options; subclasses are ``@dataclass(frozen=True)``."""

    ENV_PREFIX: ClassVar[str] = ""
    ERROR: ClassVar[type[ConfigError]] = ConfigError  # a package may raise its own subclass

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            kind = _kind(hints[f.name])
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, value := float(value))
            if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise self.ERROR(f"{self.label(f.name)} must be a number, got {value!r}")
            if kind is int and not isinstance(value, int):
                raise self.ERROR(f"{self.label(f.name)} must be a whole number, got {value!r}")
            rule: Rule | None = f.metadata.get(_RULE)
            if rule is not None and not rule.accepts(value):
                raise self.ERROR(f"{self.label(f.name)} must be {rule.describe()}, got {value!r}")
            if kind is float and not math.isfinite(value):
                raise self.ERROR(f"{self.label(f.name)} must be a finite number, got {value!r}")

    @classmethod
    def env_var(cls, name: str) -> str:
        return f"{cls.ENV_PREFIX}{name.upper()}"

    @classmethod
    def label(cls, name: str) -> str:
        """How an error names the option: its variable (a subclass may name another source too)."""
        return cls.env_var(name)

    @classmethod
    def env_vars(cls) -> dict[str, str]:
        return {f.name: cls.env_var(f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **explicit: Any) -> Self:
        """Environment over defaults, explicit (non-None) keywords over both; typed and checked."""
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            raw = environ.get(cls.env_var(f.name))
            if raw is None or raw == "":
                continue
            kind = _kind(hints[f.name])
            try:
                values[f.name] = _parse(kind, raw)
            except ValueError:
                what = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, kind.__name__)
                raise cls.ERROR(f"{cls.label(f.name)} must be {what}, got {raw!r}") from None
        unknown = set(explicit) - {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise TypeError(f"{cls.__name__} has no option {sorted(unknown)}")
        values.update({k: v for k, v in explicit.items() if v is not None})
        return cls(**values)

    @classmethod
    def flag_type(cls, name: str) -> Any:
        """An argparse ``type=`` for the flag that sets option ``name``: the option's kind and rule."""
        f = {f.name: f for f in dataclasses.fields(cls)}[name]  # type: ignore[arg-type]
        rule: Rule = f.metadata.get(_RULE, Rule())
        return flag(_kind(typing.get_type_hints(cls)[name]), **dataclasses.asdict(rule))

    def with_(self, **changes: Any) -> Self:
        """A copy with the non-None ``changes`` (checked like any other construction)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[type-var]


def flag(kind: type = float, **rule: Any) -> Any:
    """An argparse ``type=`` with an :func:`option`'s rule: ``flag(int, ge=1)``, ``flag(float, gt=0)``.

    A value of the wrong kind, out of range, NaN or infinite is argparse's usage error (exit 2).
    """
    check = Rule(**rule)

    def parse(text: str) -> Any:
        try:
            value = _parse(kind, text)
        except ValueError:
            what = {int: "a whole number", float: "a number"}.get(kind, kind.__name__)
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if not check.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {check.describe()}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse
