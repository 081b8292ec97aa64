"""dbhealth receiver: Alertmanager webhooks → wedding-aware escalations (SMS, email, webhooks)."""
