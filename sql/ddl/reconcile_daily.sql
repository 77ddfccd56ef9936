-- One row per reconciled day: counts by status and cause, the mismatch rate (differing / compared)
-- and the day's volume from bars and from candles. The alarms watch the same figures.
CREATE EXTERNAL TABLE IF NOT EXISTS reconcile_daily (
  day string, symbols bigint, candles bigint, bars bigint, compared bigint, matched bigint,
  differing bigint, missing_bars bigint, gap_bars bigint, bars_without_candle bigint,
  mismatch_rate double, volume_bars bigint, volume_candles bigint, causes string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://{{bucket}}/curated/reconcile_daily/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://{{bucket}}/curated/reconcile_daily/dt=${dt}/',
  'parquet.compression' = 'ZSTD'
)
