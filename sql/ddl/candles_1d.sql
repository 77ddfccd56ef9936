-- Daily exchange candles from the Fyers history API (tickpipe backfill): one per symbol and day.
-- start is IST midnight of the day (epoch s), as Fyers stamps it; day and dt are that IST date.
CREATE EXTERNAL TABLE IF NOT EXISTS candles_1d (
  sym string, start bigint, day string, o double, h double, l double, c double, vol bigint, src string,
  v bigint
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://{{bucket}}/curated/candles_1d/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2017-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://{{bucket}}/curated/candles_1d/dt=${dt}/',
  'parquet.compression' = 'ZSTD'
)
