"""dbhealth exporter: PostgreSQL and wedding-day health as Prometheus metrics, safely."""

__version__ = "0.1.0"
