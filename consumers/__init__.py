"""Lambda handlers: bars (stream → 5-minute bars), compact (raw → curated Parquet)."""
