-- Where each symbol's final bars of a day come from: exchange candles, live bars filling what the
-- candles lack, and live bars with volume but no candle. Parameters: day (yyyy-MM-dd).
SELECT
  sym,
  count(*) AS bars,
  count_if(source = 'candle') AS from_candles,
  count_if(source = 'live') AS from_live,
  count_if(live_without_candle) AS live_without_candle,
  sum(vol) AS volume
FROM bars_5m_final
WHERE dt = '{{day}}'
GROUP BY sym
ORDER BY sym
