-- bars_5m_final: every (sym, start) of each day once, from the exchange's 5-minute candle where one
-- exists (candles_5m, res = 5: backfill and the daily reconcile fetch them) and from the live bar
-- (bars_5m) otherwise. source says which; live_without_candle flags a live bar with volume for which
-- the exchange has no candle (reconcile's bar_without_candle), on days whose candles of that symbol
-- were fetched (reconciled or backfilled): before that, no candle means nothing yet. Users who want
-- exchange-exact history query this; users who want sub-minute freshness query bars_5m. Filter on dt.
CREATE OR REPLACE VIEW bars_5m_final AS
SELECT sym, start, o, h, l, c, vol, 'candle' AS source, false AS live_without_candle, dt
FROM candles_5m
WHERE res = 5
UNION ALL
SELECT b.sym, b.start, b.o, b.h, b.l, b.c, b.vol, 'live' AS source,
  b.vol > 0 AND EXISTS (
    SELECT 1 FROM candles_5m AS d WHERE d.res = 5 AND d.dt = b.dt AND d.sym = b.sym
  ) AS live_without_candle,
  b.dt
FROM bars_5m AS b
WHERE NOT EXISTS (
  SELECT 1 FROM candles_5m AS k
  WHERE k.res = 5 AND k.dt = b.dt AND k.sym = b.sym AND k.start = b.start
)
