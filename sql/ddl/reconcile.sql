-- Reconciliation of one day (tickpipe reconcile): one row per (sym, start) with a live bar or an
-- exchange candle. status: match | differs | missing_bar | no_candle; cause: missed_trade_at_edge,
-- missed_trade, volume_shifted, partial_in_gap, missing_in_gap, missing_bar, bar_without_candle, unexplained.
-- d_* are bar minus candle; fields lists what differs.
CREATE EXTERNAL TABLE IF NOT EXISTS reconcile (
  sym string, start bigint, status string, cause string, fields string, bar_vol bigint,
  candle_vol bigint, d_o double, d_h double, d_l double, d_c double, d_vol bigint
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://{{bucket}}/curated/reconcile/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://{{bucket}}/curated/reconcile/dt=${dt}/',
  'parquet.compression' = 'ZSTD'
)
