-- Top movers of one day: the last traded price against the previous close, largest moves first.
-- Parameters: day (yyyy-MM-dd).
WITH last AS (
  SELECT sym, max_by(ltp, ts) AS last_price, max_by(pc, ts) AS prev_close, max(vol) AS volume
  FROM ticks
  WHERE dt = '{{day}}'
  GROUP BY sym
)
SELECT
  sym,
  last_price,
  prev_close,
  round(100 * (last_price - prev_close) / prev_close, 2) AS change_pct,
  volume
FROM last
WHERE prev_close > 0
ORDER BY abs(last_price - prev_close) / prev_close DESC, sym
LIMIT 10
