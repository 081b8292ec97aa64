"""dbhealth backup verifier: proves every night that the WedSync database can be restored.

One answer per backup: restorable, complete, in N minutes. Checks (SPEC section 6):
inventory, integrity, cross_region, restore, completeness, freshness, retention; every
check writes ``backup_verification_audit`` rows that the exporter's ``backup``
collector turns into the ``dbhealth_backup_*`` metrics. See docs/backup.md.
"""

__version__ = "0.1.0"
