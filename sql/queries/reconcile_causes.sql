-- Why a day's live bars differ from the exchange's candles: buckets per status and cause, and the
-- volume involved. Parameters: day (yyyy-MM-dd).
SELECT
  status,
  cause,
  count(*) AS buckets,
  count(DISTINCT sym) AS symbols,
  sum(abs(coalesce(d_vol, 0))) AS volume_moved
FROM reconcile
WHERE dt = '{{day}}' AND status <> 'match'
GROUP BY status, cause
ORDER BY buckets DESC, status, cause
