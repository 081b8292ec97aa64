"""Real PostgreSQL, Redis and other processes for the tests, started on free loopback ports."""
