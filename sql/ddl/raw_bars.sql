-- Raw 5-minute bars as Firehose lands them: every emission, amendments included (rev 0, 1, ...).
CREATE EXTERNAL TABLE IF NOT EXISTS raw_bars (
  sym string, start bigint, o double, h double, l double, c double, vol bigint, vwap double,
  n bigint, vol_cum bigint, first_ts bigint, last_ts bigint, oi bigint, rev bigint, v bigint
)
PARTITIONED BY (dt string, hh string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION 's3://{{bucket}}/raw/bars/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hh.type' = 'enum',
  'projection.hh.values' = '00,01,02,03,04,05,06,07,08,09,10,11,12,13,14,15,16,17,18,19,20,21,22,23',
  'storage.location.template' = 's3://{{bucket}}/raw/bars/dt=${dt}/hh=${hh}/'
)
