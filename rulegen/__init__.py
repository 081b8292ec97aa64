"""Generate the shipped Prometheus rules from ``rules/thresholds.yml`` (the one source of truth)."""
