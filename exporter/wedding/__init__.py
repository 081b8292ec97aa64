"""Wedding day, in one place: is it one (:mod:`.calendar`, pure), the ``wedding:`` settings,
the collector that reads today's counts and the run-time override, the
``wedding-override`` command and ``GET /health/wedding-day``.

The decision is a :class:`~exporter.wedding.calendar.WeddingDayState` carried in every
snapshot; nothing else decides. This package's ``__init__`` imports nothing, so the
settings can import :mod:`.settings` alone.
"""
