-- Exchange candles from the Fyers history API (tickpipe backfill / reconcile), res = 5, 15 or 60 minutes.
-- start is the candle start (epoch s, aligned to the 09:15 IST open); src = 'history'.
-- One object per day (dt = IST trading date), sorted by sym, res, start; deduplicated on them.
CREATE EXTERNAL TABLE IF NOT EXISTS candles_5m (
  sym string, start bigint, res bigint, o double, h double, l double, c double, vol bigint, src string,
  v bigint
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://{{bucket}}/curated/candles_5m/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2017-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://{{bucket}}/curated/candles_5m/dt=${dt}/',
  'parquet.compression' = 'ZSTD'
)
