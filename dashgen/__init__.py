"""Grafana dashboards as code: one module per dashboard, rendered to ``dashboards/*.json``."""
