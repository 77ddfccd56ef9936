-- Symbols that had ticks on any of the 7 days before a day but none on the day itself.
-- Parameters: day (yyyy-MM-dd).
SELECT sym
FROM (
  SELECT DISTINCT sym FROM ticks
  WHERE dt >= CAST(date_add('day', -7, DATE '{{day}}') AS varchar) AND dt < '{{day}}'
) AS seen
WHERE sym NOT IN (SELECT DISTINCT sym FROM ticks WHERE dt = '{{day}}')
ORDER BY sym
