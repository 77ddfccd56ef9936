-- Daily exchange candles of one symbol over a range of days (candles_1d, from tickpipe backfill),
-- with the day's change. Parameters: sym (NSE:SBIN-EQ), from and to (yyyy-MM-dd).
SELECT
  day,
  o AS open,
  h AS high,
  l AS low,
  c AS close,
  vol AS volume,
  round(c - lag(c) OVER (ORDER BY start), 2) AS change
FROM candles_1d
WHERE sym = '{{sym}}' AND dt BETWEEN '{{from}}' AND '{{to}}'
ORDER BY day
