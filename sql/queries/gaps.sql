-- Gaps in the data: per symbol, runs of missing 5-minute bars between two bars of one day.
-- Parameters: day (yyyy-MM-dd).
WITH ordered AS (
  SELECT sym, start, lag(start) OVER (PARTITION BY sym ORDER BY start) AS prev_start
  FROM bars_5m
  WHERE dt = '{{day}}'
)
SELECT
  sym,
  prev_start + 300 AS gap_from,
  start AS gap_to,
  CAST((start - prev_start) / 300 - 1 AS bigint) AS missing_bars
FROM ordered
WHERE start - prev_start > 300
ORDER BY sym, gap_from
