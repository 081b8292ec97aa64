-- Runs once, on an empty data directory, in POSTGRES_DB (wedsync).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS hypopg;
