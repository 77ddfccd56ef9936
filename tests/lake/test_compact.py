"""Compaction: raw gzip JSON lines → curated Parquet, idempotent, incremental, deduplicated."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consumers.lake.compact import CompactOptions, Compactor, dedup_sort
from consumers.lake.schema import BAR_FIELDS, BARS, TICKS
from consumers.lake.store import LakeStore
from market import tick as tickmod
from tickpipe import names
from tickpipe.errors import ConfigError

ARRIVAL = datetime(2026, 11, 26, 4, 0, 5, tzinfo=UTC)
TODAY = date(2026, 11, 26)
DAY = "2026-11-26"
OPEN = int(datetime(2026, 11, 26, 3, 45, tzinfo=UTC).timestamp())  # 09:15 IST


def lines(records) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def compactor(lake, spec=TICKS, **opts):
    return Compactor(lake, spec, store=LakeStore(lake.bucket), options=CompactOptions(**opts), today=TODAY)


def curated(s3, bucket: str, prefix: str) -> tuple[list[str], pa.Table]:
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]
    return keys, pa.concat_tables(tables) if tables else pa.table({})


def ticks_part(s3, lake, day=DAY):
    return curated(s3, lake.bucket, names.partition(names.CURATED_TICKS, day))


def state_keys(s3, lake) -> dict[str, str]:
    objs = s3.list_objects_v2(Bucket=lake.bucket).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in objs}


def test_ticks_land_sorted_by_symbol_then_time_with_every_field(lake, s3, raw, factory):
    ticks = factory.ticks(factory.symbols(5), 30)
    raw.put("ticks", lines(ticks[::2]), at=ARRIVAL)
    raw.put("ticks", lines(ticks[1::2]), at=ARRIVAL)
    report = compactor(lake).run()
    keys, table = ticks_part(s3, lake)
    assert report.days_written == [DAY] and report.rows_out == len(ticks)
    assert table.column_names == list(tickmod.FIELDS)
    expected = sorted(ticks, key=lambda t: (t["sym"], t["ts"], t["vol"]))
    assert table.to_pylist() == expected


def test_producer_watermarks_in_raw_ticks_are_no_ticks(lake, s3, raw, factory):
    from market.watermark import Watermark

    ticks = factory.ticks(factory.symbols(3), 10)
    wm = Watermark("p1", OPEN + 60).encode()
    raw.put("ticks", lines(ticks[:15]) + wm + lines(ticks[15:]) + wm, at=ARRIVAL)
    report = compactor(lake).run()
    assert report.rows_in == report.rows_out == len(ticks) and report.rows_bad == 0
    assert not s3.list_objects_v2(Bucket=lake.bucket, Prefix=names.QUARANTINE).get("KeyCount")


def test_repeated_observations_are_kept_once_earliest_received(lake, s3, raw, factory):
    ticks = factory.ticks(factory.symbols(2), 10)
    resent = [{**t, "rx": t["rx"] + 5000, "seq": t["seq"] + 10_000} for t in ticks[:4]]  # reconnect snapshots
    raw.put("ticks", lines(resent), at=ARRIVAL)  # the resend arrives in an earlier object
    raw.put("ticks", lines(ticks), at=ARRIVAL)
    compactor(lake).run()
    _, table = ticks_part(s3, lake)
    rows = table.to_pylist()
    assert len(rows) == len(ticks)
    assert {tickmod.observation_key(r) for r in rows} == {tickmod.observation_key(t) for t in ticks}
    assert all(r["seq"] < 10_000 for r in rows)  # the first received copy wins


def test_running_twice_changes_nothing(lake, s3, raw, factory):
    raw.put("ticks", lines(factory.ticks(factory.symbols(3), 20)), at=ARRIVAL)
    compactor(lake).run()
    before = state_keys(s3, lake)
    report = compactor(lake).run()
    assert report.raw_objects_new == 0 and report.days_written == []
    assert state_keys(s3, lake) == before


def test_late_object_for_a_finished_day_rewrites_that_day_only(lake, s3, raw, factory):
    yesterday = factory.ticks(factory.symbols(3), 10, start=OPEN - 86_400)
    today = factory.ticks(factory.symbols(3), 10)
    raw.put("ticks", lines(yesterday[:15]), at=ARRIVAL.replace(day=25))
    raw.put("ticks", lines(today), at=ARRIVAL)
    compactor(lake).run()
    today_before = {k: v for k, v in state_keys(s3, lake).items() if "dt=2026-11-26" in k and "curated" in k}

    raw.put("ticks", lines(yesterday[15:]), at=ARRIVAL)  # late: lands in today's raw partition
    report = compactor(lake).run()
    assert report.days_written == ["2026-11-25"]
    assert {k: v for k, v in state_keys(s3, lake).items() if "dt=2026-11-26" in k and "curated" in k} == today_before
    keys, table = ticks_part(s3, lake, "2026-11-25")
    assert table.num_rows == len(yesterday)
    assert all("part-g00002-" in k for k in keys)  # a new generation replaced the old one
    manifest = orjson.loads(s3.get_object(Bucket=lake.bucket, Key=f"{TICKS.state_prefix}dt=2026-11-25/manifest.json")["Body"].read())
    assert manifest["generation"] == 2 and len(manifest["sources"]) == 2
    assert [f["key"] for f in manifest["files"]] == keys


def test_corrupt_object_is_quarantined_and_the_day_goes_on(lake, s3, raw, factory):
    good = factory.ticks(factory.symbols(2), 10)
    raw.put("ticks", lines(good), at=ARRIVAL)
    bad_key = raw.put("ticks", b"\x1f\x8b\x08\x00garbage that is not deflate", at=ARRIVAL, compress=False)
    report = compactor(lake).run()
    assert report.objects_quarantined == 1
    _, table = ticks_part(s3, lake)
    assert table.num_rows == len(good)
    reason = orjson.loads(
        s3.get_object(Bucket=lake.bucket, Key=f"{names.QUARANTINE}ticks/objects/{bad_key}.reason.json")["Body"].read()
    )
    assert reason["source"] == bad_key and "gzip" in reason["reason"]
    assert compactor(lake).run().raw_objects_new == 0  # not retried every run


def test_malformed_lines_are_quarantined_with_their_reason(lake, s3, raw, factory):
    good = factory.ticks(factory.symbols(2), 5)
    body = lines(good[:3]) + b'{"sym":"NSE:X-EQ","ts":1\n' + b'{"sym":"NSE:Y-EQ","ts":%d,"ltp":"abc"}\n' % OPEN + lines(good[3:])
    key = raw.put("ticks", body, at=ARRIVAL)
    report = compactor(lake).run()
    assert report.rows_bad == 2 and report.rows_in == len(good)
    q = s3.get_object(Bucket=lake.bucket, Key=f"{names.QUARANTINE}ticks/records/{key}.jsonl")["Body"].read()
    reasons = [orjson.loads(x) for x in q.splitlines()]
    assert [r["line"] for r in reasons] == [4, 5]
    assert "not JSON" in reasons[0]["reason"] and "ltp" in reasons[1]["reason"]
    assert ticks_part(s3, lake)[1].num_rows == len(good)


def test_a_valid_json_line_that_breaks_a_rule_is_quarantined(lake, s3, raw, factory):
    good = factory.ticks(factory.symbols(1), 4)
    no_sym = {**good[0], "sym": None}
    key = raw.put("ticks", lines(good + [no_sym]), at=ARRIVAL)
    report = compactor(lake).run()
    assert report.rows_bad == 1
    q = s3.get_object(Bucket=lake.bucket, Key=f"{names.QUARANTINE}ticks/records/{key}.jsonl")["Body"].read()
    assert "sym" in orjson.loads(q)["reason"]


def test_a_day_larger_than_one_file_is_split_into_sorted_files(lake, s3, raw, factory):
    ticks = factory.ticks(factory.symbols(40), 60)
    for i in range(4):
        raw.put("ticks", lines(ticks[i::4]), at=ARRIVAL)
    compactor(lake, target_file_bytes=16 * 1024, row_group_rows=300, range_rows=500).run()
    keys, _ = ticks_part(s3, lake)
    assert len(keys) > 2
    last = ("", -1)
    for k in keys:  # globally ordered across files: file n ends before file n+1 begins
        t = pq.read_table(io.BytesIO(s3.get_object(Bucket=lake.bucket, Key=k)["Body"].read()))
        first_row = (t["sym"][0].as_py(), t["ts"][0].as_py())
        assert first_row >= last
        last = (t["sym"][-1].as_py(), t["ts"][-1].as_py())
    assert ticks_part(s3, lake)[1].num_rows == len(ticks)


def test_output_does_not_depend_on_the_memory_budget(lake, s3, raw, factory):
    ticks = factory.ticks(factory.symbols(25), 30)
    dupes = [{**t, "rx": t["rx"] + 1} for t in ticks[::7]]
    raw.put("ticks", lines(ticks[:400] + dupes), at=ARRIVAL)
    raw.put("ticks", lines(ticks[400:]), at=ARRIVAL)
    compactor(lake, range_rows=64).run()
    small = ticks_part(s3, lake)[1]
    whole = dedup_sort(TICKS, pa.Table.from_pylist(ticks + dupes, schema=TICKS.read_schema))
    assert small.cast(TICKS.read_schema).equals(whole)


def test_every_curated_file_has_the_typed_schema(lake, s3, raw, factory):
    raw.put("ticks", lines(factory.ticks(factory.symbols(3), 5)), at=ARRIVAL)
    raw.put("bars", lines(factory.bars(factory.symbols(3), 4)), at=ARRIVAL)
    compactor(lake).run()
    compactor(lake, BARS).run()
    objs = s3.list_objects_v2(Bucket=lake.bucket, Prefix="curated/")["Contents"]
    assert {o["Key"].split("/")[1] for o in objs} == {"ticks", "bars_5m"}
    for o in objs:
        pf = pq.ParquetFile(io.BytesIO(s3.get_object(Bucket=lake.bucket, Key=o["Key"])["Body"].read()))
        spec = TICKS if "/ticks/" in o["Key"] else BARS
        assert pf.schema_arrow.equals(spec.schema), o["Key"]
        assert pa.types.is_dictionary(pf.schema_arrow.field("sym").type)
        assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
        assert pa.types.is_float64(pf.schema_arrow.field("ltp" if spec is TICKS else "c").type)


def test_amended_bars_keep_the_highest_revision(lake, s3, raw, factory):
    bars = factory.bars(factory.symbols(2), 3)
    amended = {**bars[1], "rev": 1, "c": bars[1]["h"], "n": bars[1]["n"] + 1}
    raw.put("bars", lines(bars), at=ARRIVAL)
    raw.put("bars", lines([amended, bars[1]]), at=ARRIVAL)  # a late amendment, and a redelivered rev 0
    compactor(lake, BARS).run()
    _, table = curated(s3, lake.bucket, names.partition(names.CURATED_BARS, DAY))
    rows = table.to_pylist()
    assert table.column_names == list(BAR_FIELDS)
    assert len(rows) == len(bars)
    assert [r for r in rows if r["sym"] == bars[1]["sym"] and r["start"] == bars[1]["start"]] == [amended]
    assert [(r["sym"], r["start"]) for r in rows] == sorted((b["sym"], b["start"]) for b in bars)


def test_unknown_table_name_is_a_clear_error(lake):
    from consumers.lake.compact import compact_all

    with pytest.raises(ValueError, match="unknown table"):
        compact_all(lake, tables=["candles"])


@pytest.mark.parametrize(("option", "value"), [
    ("range_rows", 0), ("row_group_rows", -1), ("target_file_bytes", 0), ("zstd_level", 23),
    ("lookback_days", 367), ("lookback_days", -1), ("range_rows", 2.5),
])
def test_a_compaction_option_out_of_range_is_an_error_naming_it(option, value):
    # range_rows=0 would never flush a range; each knob is checked where the options are made
    with pytest.raises(ConfigError, match=f"compaction option {option}"):
        CompactOptions(**{option: value})


def test_bars_from_the_bar_builder_compact_to_what_market_bars_calls_curated(lake, s3, raw, factory):
    from market.bars import build_bars
    from market.bars import curated as curated_bars

    ticks = factory.ticks(factory.symbols(4), 120, step=20)
    late = ticks[5::17]  # late ticks amend bars that were already emitted
    in_order = [t for t in ticks if t not in late]
    emitted = build_bars(in_order + late)
    assert any(b["rev"] > 0 for b in emitted), "the fixture should produce amendments"
    raw.put("bars", lines(emitted[: len(emitted) // 2]), at=ARRIVAL)
    raw.put("bars", lines(emitted[len(emitted) // 2 :]), at=ARRIVAL)
    compactor(lake, BARS).run()
    _, table = curated(s3, lake.bucket, names.partition(names.CURATED_BARS, DAY))
    expected = sorted(curated_bars(emitted).values(), key=lambda b: (b["sym"], b["start"]))
    assert table.to_pylist() == expected
