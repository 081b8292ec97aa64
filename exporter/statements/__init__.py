"""Statements, in one place: pg_stat_statements by wedding domain, ``/queries``, the index advisor.

- :mod:`.collector` (one statement per collection) with :mod:`.tracker` (monotonic
  counters), :mod:`.shared` (the same accumulators for every replica, in Redis) and
  :mod:`.exposition` (its metric families);
- :mod:`.classify`, :mod:`.sanitize`, :mod:`.findings`, :mod:`.report`: what a statement
  is about, its text without literals, what is wrong with it, the ``/queries`` report;
- :mod:`.advisor` with :mod:`.gate` (what may be planned at all), :mod:`.candidates`,
  :mod:`.whatif` (HypoPG planning) and :mod:`.suggestions` (plain results);
- :mod:`.catalog`: where the extensions live.

Everything talks to PostgreSQL through :mod:`exporter.db`. This package's ``__init__``
imports nothing, so the settings can import :mod:`.settings` alone.
"""
