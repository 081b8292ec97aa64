"""Where an extension's objects live, so that they are always called schema-qualified.

Monitoring sessions run with ``search_path = pg_catalog``: pg_stat_statements
and HypoPG (created in ``public`` by default) must be named with their schema.
The schema is read from ``pg_extension``, never assumed: a role with CREATE on
``public`` could otherwise plant a look-alike ``public.pg_stat_statements`` on
a server where the extension is not installed, and the exporter would run it.
Once an extension exists, nobody but its owner can replace its functions.
"""

from __future__ import annotations

# (schema, may we see other roles' statistics, is the library preloaded)
EXTENSION_SCHEMA_SQL = """
SELECT n.nspname::text, pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'),
       %(name)s = ANY(pg_catalog.string_to_array(pg_catalog.replace(
           pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ','))
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = %(name)s
"""
