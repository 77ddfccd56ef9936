-- Daily OHLCV per symbol from the 5-minute bars of one day. Parameters: day (yyyy-MM-dd).
SELECT
  sym,
  min_by(o, start) AS open,
  max(h) AS high,
  min(l) AS low,
  max_by(c, start) AS close,
  sum(vol) AS volume,
  round(sum(vwap * vol) / nullif(sum(vol), 0), 4) AS vwap,
  count(*) AS bars
FROM bars_5m
WHERE dt = '{{day}}'
GROUP BY sym
ORDER BY sym
