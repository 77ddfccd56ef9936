"""The symbol universe: which symbols a producer subscribes to, and reconcile checks.

The source (``TICKPIPE_SYMBOLS``) is a file path, ``s3://bucket/key`` or ``ssm:/parameter/name``.
Its text holds symbols one per line or comma separated; ``#`` starts a comment. Reconcile checks
every producer's universe: its ``TICKPIPE_SYMBOLS`` may name several sources, comma separated
(:func:`load_universes`).

A producer may take a slice ``k/n`` (1-based) of the universe: a symbol belongs to slice
``md5(symbol) mod n + 1``. The slice depends only on the symbol, never on its position in the
list, so adding or removing symbols does not move the others between tasks, and restarts agree.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from tickpipe.aws_errors import error_code
from tickpipe.errors import UniverseError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient


_SYMBOL = re.compile(r"^[A-Z]+:[A-Za-z0-9&_.\-]+$")


def parse_symbols(text: str, source: str = "symbols") -> list[str]:
    """Symbols in order of first appearance, duplicates removed. Raises on a malformed entry."""
    out: dict[str, None] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        for item in line.split(","):
            sym = item.strip()
            if not sym:
                continue
            if not _SYMBOL.match(sym):
                raise UniverseError(
                    f"{source} line {lineno}: {sym!r} is not a Fyers symbol like 'NSE:SBIN-EQ'")
            out[sym] = None
    return list(out)


def parse_slice(text: str) -> tuple[int, int]:
    """``"2/4"`` → (2, 4). The first slice is 1."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise UniverseError(f"slice must look like 'K/N' (e.g. '2/4'), got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if not 1 <= k <= n:
        raise UniverseError(f"slice {text!r}: K must be between 1 and N")
    return k, n


def slice_of(symbol: str, n: int) -> int:
    """The 1-based slice (of ``n``) a symbol belongs to."""
    return int.from_bytes(hashlib.md5(symbol.encode()).digest()[:8], "big") % n + 1


def take_slice(symbols: list[str], k: int, n: int) -> list[str]:
    return [s for s in symbols if slice_of(s, n) == k]


def _text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UniverseError(f"symbols source {source!r} is not UTF-8 text (byte {exc.start}: "
                            f"{data[exc.start:exc.start + 1]!r}); save it as UTF-8") from None


def read_source(source: str, *, s3: S3Client | None = None, ssm: SSMClient | None = None) -> str:
    """The text behind a symbols source (path, s3://bucket/key, ssm:/name)."""
    if not source:
        raise UniverseError("no symbol universe configured: set TICKPIPE_SYMBOLS to a file, s3://bucket/key "
                            "or ssm:/parameter/name, or pass --symbols")
    if source.startswith("s3://"):
        bucket, _, key = source[5:].partition("/")
        if not bucket or not key:
            raise UniverseError(f"symbols source {source!r} must look like s3://bucket/key")
        if s3 is None:
            import boto3
            s3 = boto3.client("s3")
        try:
            return _text(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), source)
        except s3.exceptions.NoSuchKey:
            raise UniverseError(f"symbols object {source} does not exist") from None
        except s3.exceptions.NoSuchBucket:
            raise UniverseError(f"bucket of symbols source {source} does not exist") from None
        except s3.exceptions.ClientError as exc:
            if error_code(exc) not in ("AccessDenied", "403"):
                raise
            # The producer's role has no s3:ListBucket, so S3 answers 403 for a key that is missing
            # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
            raise UniverseError(f"symbols object {source} does not exist, or this task's role may not read it "
                                "(S3 says AccessDenied for both): upload the list there (docs/deploy.md) or "
                                "grant s3:GetObject on it") from None
    if source.startswith("ssm:"):
        name = source[4:]
        if not name.startswith("/"):
            name = "/" + name
        if ssm is None:
            import boto3
            ssm = boto3.client("ssm")
        try:
            return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            raise UniverseError(f"SSM parameter {name} (symbols source {source!r}) does not exist") from None
    try:
        with open(source, "rb") as f:
            return _text(f.read(), source)
    except OSError as exc:
        raise UniverseError(f"cannot read symbols file {source!r}: {exc.strerror}") from None


def load_universe(source: str, *, slice_spec: str | None = None, s3: S3Client | None = None,
                  ssm: SSMClient | None = None) -> list[str]:
    """Read, parse and (optionally) slice the universe. Raises :class:`UniverseError` if it is empty."""
    symbols = parse_symbols(read_source(source, s3=s3, ssm=ssm), source)
    if not symbols:
        raise UniverseError(f"symbols source {source!r} lists no symbols")
    if slice_spec:
        k, n = parse_slice(slice_spec)
        sliced = take_slice(symbols, k, n)
        if not sliced:
            raise UniverseError(f"slice {k}/{n} of the {len(symbols)} symbols in {source!r} is empty; use fewer slices")
        symbols = sliced
    return symbols


def load_universes(sources: str, *, s3: S3Client | None = None, ssm: SSMClient | None = None) -> list[str]:
    """The union of the universes of ``sources`` (one source, or several separated by ``,``), in
    order of first appearance. Raises :class:`UniverseError` as :func:`load_universe` does."""
    names = [s.strip() for s in sources.split(",") if s.strip()]
    if not names:
        read_source("")  # raises: no universe configured
    out: dict[str, None] = {}
    for source in names:
        out.update(dict.fromkeys(load_universe(source, s3=s3, ssm=ssm)))
    return list(out)
