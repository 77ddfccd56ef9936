-- Curated 5-minute bars: the highest revision of each (sym, start), sorted by sym then start.
-- start is the bucket start (epoch s); 5-minute IST buckets are epoch multiples of 300 s.
CREATE EXTERNAL TABLE IF NOT EXISTS bars_5m (
  sym string, start bigint, o double, h double, l double, c double, vol bigint, vwap double,
  n bigint, vol_cum bigint, first_ts bigint, last_ts bigint, oi bigint, rev bigint, v bigint
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://{{bucket}}/curated/bars_5m/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://{{bucket}}/curated/bars_5m/dt=${dt}/',
  'parquet.compression' = 'ZSTD'
)
