"""Universe: symbols from a file, S3 or SSM; a stable hash slice."""

from __future__ import annotations

import pytest

from tickpipe.errors import UniverseError
from tickpipe.universe import load_universe, load_universes, parse_slice, parse_symbols, slice_of, take_slice

TEXT = """# NIFTY names
NSE:SBIN-EQ, NSE:RELIANCE-EQ   # two on a line
NSE:NIFTY50-INDEX

NSE:SBIN-EQ
"""


def test_lines_commas_comments_and_duplicates():
    assert parse_symbols(TEXT) == ["NSE:SBIN-EQ", "NSE:RELIANCE-EQ", "NSE:NIFTY50-INDEX"]


def test_a_malformed_symbol_names_its_line():
    with pytest.raises(UniverseError, match="line 2: 'SBIN'"):
        parse_symbols("NSE:TCS-EQ\nSBIN\n")


def test_universe_from_a_file(tmp_path):
    path = tmp_path / "symbols.txt"
    path.write_text(TEXT)
    assert load_universe(str(path)) == ["NSE:SBIN-EQ", "NSE:RELIANCE-EQ", "NSE:NIFTY50-INDEX"]


def test_universe_from_s3(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="cfg", CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    s3.put_object(Bucket="cfg", Key="u/symbols.txt", Body=TEXT.encode())
    assert load_universe("s3://cfg/u/symbols.txt", s3=s3)[0] == "NSE:SBIN-EQ"


def test_universe_from_ssm(aws):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/tickpipe/dev/symbols", Value="NSE:SBIN-EQ,NSE:TCS-EQ", Type="String")
    assert load_universe("ssm:/tickpipe/dev/symbols", ssm=ssm) == ["NSE:SBIN-EQ", "NSE:TCS-EQ"]


def test_several_sources_give_the_union_of_their_universes(aws, tmp_path):
    path = tmp_path / "symbols.txt"
    path.write_text(TEXT)
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/tickpipe/dev/more", Value="NSE:TCS-EQ,NSE:SBIN-EQ", Type="String")
    assert load_universes(f"{path}, ssm:/tickpipe/dev/more", ssm=ssm) == [
        "NSE:SBIN-EQ", "NSE:RELIANCE-EQ", "NSE:NIFTY50-INDEX", "NSE:TCS-EQ"]
    with pytest.raises(UniverseError, match="TICKPIPE_SYMBOLS"):
        load_universes(" , ")


def test_missing_sources_say_what_is_missing(aws, tmp_path):
    with pytest.raises(UniverseError, match="does not exist"):
        load_universe("ssm:/nope", ssm=aws.client("ssm"))
    with pytest.raises(UniverseError, match="cannot read symbols file"):
        load_universe(str(tmp_path / "none.txt"))
    with pytest.raises(UniverseError, match="TICKPIPE_SYMBOLS"):
        load_universe("")


def test_slices_partition_the_universe():
    symbols = [f"NSE:S{i}-EQ" for i in range(1000)]
    parts = [take_slice(symbols, k, 4) for k in range(1, 5)]
    assert sorted(s for p in parts for s in p) == sorted(symbols)
    assert all(150 < len(p) < 350 for p in parts)


def test_a_symbols_slice_does_not_depend_on_the_others():
    symbols = [f"NSE:S{i}-EQ" for i in range(100)]
    before = take_slice(symbols, 2, 4)
    after = take_slice(["NSE:NEW-EQ", *reversed(symbols)], 2, 4)
    assert set(before) <= set(after)
    assert all(slice_of(s, 4) == 2 for s in before)


@pytest.mark.parametrize("bad", ["0/4", "5/4", "2", "a/b", ""])
def test_bad_slices_are_rejected(bad):
    with pytest.raises(UniverseError, match="slice"):
        parse_slice(bad)


def test_more_symbols_than_one_connection_carries_asks_for_slices(moto_server, tmp_path):
    from producer.options import ProducerOptions
    from producer.service import Producer
    from tickpipe.config import Settings

    symbols = [f"NSE:S{i}-EQ" for i in range(5001)]
    with pytest.raises(UniverseError, match="at most 5000.*run 2 or more producers with --slice"):
        Producer(Settings(env="test"), stop=None, symbols=symbols, options=ProducerOptions(journal_dir=str(tmp_path)))
