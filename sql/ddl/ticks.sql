-- Curated ticks: deduplicated by quote state, sorted by sym then ts, zstd Parquet.
-- dt is the UTC date of the tick's exchange time (= the IST trading date for NSE/BSE hours).
CREATE EXTERNAL TABLE IF NOT EXISTS ticks (
  sym string, ts bigint, ltt bigint, ltp double, ltq bigint, vol bigint, atp double,
  bid double, ask double, bq bigint, aq bigint, tbq bigint, tsq bigint, oi bigint,
  dh double, dl double, op double, pc double, src string, pid string, seq bigint, rx bigint, v bigint
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://{{bucket}}/curated/ticks/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://{{bucket}}/curated/ticks/dt=${dt}/',
  'parquet.compression' = 'ZSTD'
)
