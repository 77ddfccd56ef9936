"""The measured figures the planner scales from, and the file that carries them.

``make bench`` (bench/figures.py) measures them on this code, on ticks from the Fyers simulator's
market model, and writes ``figures.json`` beside this module; ``tickpipe plan`` reads that file.
Nothing here is a guess: a figure that is not in the file is an error, not a default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from tickpipe.plan.errors import FiguresError

FIGURES_FILE: Final = Path(__file__).resolve().parent / "figures.json"


@dataclass(frozen=True)
class Figures:
    """Per-tick and per-symbol figures of the pipeline, as measured by bench/figures.py."""

    tick_bytes: float  # one tick's JSON line, newline included (the raw/ticks line, the user record)
    kinesis_bytes_per_tick: float  # Kinesis payload (data + partition key) per tick after KPL aggregation
    partition_key_bytes: float  # the symbol, the partition key of every tick
    ticks_per_record: float  # ticks in one full aggregated record
    record_bytes: float  # payload bytes of one full aggregated record (≤ one 25 KiB PUT unit)
    producer_cpu_s_per_mticks: float  # producer CPU seconds per million ticks: decode → aggregate → put
    producer_peak_rss_mb: float  # peak RSS of a producer process holding producer_symbols symbols
    producer_symbols: int
    bars_cpu_s_per_mticks: float  # bars handler CPU seconds per million ticks (de-aggregate, parse, fold)
    bars_state_bytes_per_symbol: float  # carried tumbling-window state per symbol
    bar_bytes: float  # one bar record's JSON line (what Firehose "bars" ingests)
    compact_cpu_s_per_mticks: float  # compaction CPU seconds per million ticks (raw gzip → Parquet)
    raw_gzip_bytes_per_tick: float  # raw/ticks as Firehose lands it (gzip JSON lines)
    parquet_bytes_per_tick: float  # curated/ticks (zstd Parquet)
    parquet_column_bytes_per_tick: dict[str, float]  # compressed bytes per tick of each curated column
    measured: dict[str, Any] = field(default_factory=dict)  # provenance: when, where, on how many ticks

    def to_json(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figures:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(data) - {"measured"})
        if missing:
            raise FiguresError(f"the figures file lacks {', '.join(missing)}; re-run `make bench` (bench/figures.py)")
        figures = cls(**{k: v for k, v in data.items() if k in names})
        figures.check()
        return figures

    def check(self) -> None:
        """Every figure a positive finite number (the planner divides by most of them)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "measured":
                continue
            if f.name == "parquet_column_bytes_per_tick":
                ok = isinstance(value, dict) and all(_positive(v) or v == 0 for v in value.values())
            else:
                ok = _positive(value) and (f.type != "int" or isinstance(value, int))
            if not ok:
                raise FiguresError(f"the figures file's {f.name} is {value!r}, not a positive number; "
                                   "re-run `make bench` (bench/figures.py)")


def _positive(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def load(path: Path = FIGURES_FILE) -> Figures:
    """The figures ``make bench`` last wrote."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise FiguresError(f"{path} does not exist; run `make bench` (bench/figures.py) to measure the figures") from None
    except OSError as exc:  # a directory, no permission
        raise FiguresError(f"cannot read the figures file {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise FiguresError(f"{path} is not JSON ({exc}); run `make bench` to measure it again") from None
    if not isinstance(data, dict):
        raise FiguresError(f"{path} holds {type(data).__name__}, not the figures object; run `make bench`")
    return Figures.from_dict(data)


def save(figures: Figures, path: Path = FIGURES_FILE) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(figures.to_json() + b"\n")
    tmp.replace(path)
