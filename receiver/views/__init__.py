"""HTTP blueprints: the alerts API (webhook, acks) and operations (health, metrics, OpenAPI)."""
