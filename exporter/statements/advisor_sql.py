"""The index advisor's own SQL (every catalog object named with its schema)."""

# {ext}: pg_stat_statements' schema, read from pg_extension. No texts here: only the
# statements chosen (ranking.choose) have theirs read, by TEXTS_SQL. The WHERE clause
# is a bounded superset of what ``choose`` keeps.
CANDIDATES_SQL = """
WITH s AS (
  SELECT s.queryid, pg_catalog.sum(s.calls)::float8 AS calls,
         pg_catalog.sum(s.total_exec_time)::float8 AS total_ms,
         (pg_catalog.sum(s.shared_blks_hit + s.shared_blks_read)
          / nullif(pg_catalog.sum(s.calls), 0))::float8 AS blocks
  FROM {ext}.pg_stat_statements(false) s
  WHERE s.toplevel AND s.queryid IS NOT NULL AND s.calls > 0
    AND s.dbid = (SELECT oid FROM pg_catalog.pg_database
                  WHERE datname = pg_catalog.current_database())
  GROUP BY s.queryid)
SELECT r.queryid, r.calls, r.total_ms, coalesce(r.blocks, 0)
FROM (SELECT s.*, pg_catalog.row_number() OVER (ORDER BY s.total_ms DESC) AS rank FROM s) r
WHERE r.rank <= %(limit)s OR r.total_ms / r.calls >= %(threshold)s OR r.blocks >= %(blocks)s
ORDER BY r.total_ms DESC
LIMIT %(cap)s
"""
TEXTS_SQL = """
SELECT s.queryid, pg_catalog.min(s.query)
FROM {ext}.pg_stat_statements(true) s
WHERE s.toplevel AND s.queryid = ANY(%(queryids)s::bigint[])
  AND s.dbid = (SELECT oid FROM pg_catalog.pg_database
                WHERE datname = pg_catalog.current_database())
GROUP BY s.queryid
"""
# Seconds since pg_stat_statements was last reset as a whole (the window of its counters).
RESET_SQL = """
SELECT pg_catalog.date_part('epoch', pg_catalog.now() - i.stats_reset)::float8
FROM {ext}.pg_stat_statements_info i
"""
EXTENSIONS_SQL = """
SELECT e.extname::text, n.nspname::text
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname IN ('pg_stat_statements', 'hypopg')
"""

# Tables named (schema, relation) as the gate resolved them.
TABLES_SQL = """
SELECT t.schemaname, t.relname, n.nspname, c.relname, c.oid, c.reltuples::float8,
       (SELECT pg_catalog.array_agg(a.attname::text) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT pg_catalog.array_agg(cols) FROM (
           SELECT pg_catalog.array_to_string(
                      pg_catalog.array_agg(a.attname::text ORDER BY k.ord), ',') AS cols
           FROM pg_catalog.pg_index i
           CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           WHERE i.indrelid = c.oid AND i.indisvalid GROUP BY i.indexrelid) ix),
       coalesce(st.seq_scan, 0), coalesce(st.idx_scan, 0), coalesce(st.n_live_tup, 0)
FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]),
               pg_catalog.unnest(%(names)s::text[])) AS t(schemaname, relname)
JOIN pg_catalog.pg_namespace n ON n.nspname = t.schemaname
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.relname
LEFT JOIN pg_catalog.pg_stat_user_tables st ON st.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
"""
