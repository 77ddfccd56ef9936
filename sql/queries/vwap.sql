-- Day VWAP per symbol two ways: from the 5-minute bars (Σ vwap·vol / Σ vol) and as the exchange
-- reports it (atp at the day's last tick). A large difference points at missing bars or ticks.
-- Parameters: day (yyyy-MM-dd).
WITH bars AS (
  SELECT sym, sum(vwap * vol) / nullif(sum(vol), 0) AS bar_vwap, sum(vol) AS volume
  FROM bars_5m
  WHERE dt = '{{day}}'
  GROUP BY sym
), last_tick AS (
  SELECT sym, max_by(atp, ts) AS exchange_atp
  FROM ticks
  WHERE dt = '{{day}}'
  GROUP BY sym
)
SELECT
  b.sym,
  round(b.bar_vwap, 4) AS bar_vwap,
  t.exchange_atp,
  round(100 * (b.bar_vwap - t.exchange_atp) / t.exchange_atp, 4) AS diff_pct,
  b.volume
FROM bars AS b
LEFT JOIN last_tick AS t ON t.sym = b.sym
ORDER BY b.sym
