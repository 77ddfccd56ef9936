-- Raw ticks as Firehose lands them: gzip JSON lines, one tick per line (market/tick.py).
-- dt/hh are the UTC date and hour the object arrived at Firehose (partition projection, no crawler).
CREATE EXTERNAL TABLE IF NOT EXISTS raw_ticks (
  sym string, ts bigint, ltt bigint, ltp double, ltq bigint, vol bigint, atp double,
  bid double, ask double, bq bigint, aq bigint, tbq bigint, tsq bigint, oi bigint,
  dh double, dl double, op double, pc double, src string, pid string, seq bigint, rx bigint, v bigint
)
PARTITIONED BY (dt string, hh string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION 's3://{{bucket}}/raw/ticks/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hh.type' = 'enum',
  'projection.hh.values' = '00,01,02,03,04,05,06,07,08,09,10,11,12,13,14,15,16,17,18,19,20,21,22,23',
  'storage.location.template' = 's3://{{bucket}}/raw/ticks/dt=${dt}/hh=${hh}/'
)
