"""Settings precedence: defaults → YAML file → environment → command-line flags.

Validated once; every problem is reported together, each naming its key
(``s3.primary.bucket: Field required``). The verifier has its own environment
prefix, ``BACKUP_VERIFY_``, so that it can share an environment with the exporter
(whose ``DBHEALTH_*`` variables are all its own): ``BACKUP_VERIFY_<SECTION>__<KEY>``
for anything, plus a few fixed names. Secrets are masked wherever settings are shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from settings_layers import EnvLayout, SettingsProblems, load_layered

from .errors import ConfigError
from .settings import Settings

ENV_LAYOUT = EnvLayout(prefix="BACKUP_VERIFY_", config_env="BACKUP_VERIFY_CONFIG", aliases={
    "BACKUP_VERIFY_PRODUCTION_URL": ("production", "url"),
    "BACKUP_VERIFY_SCRATCH_URL": ("scratch", "url"),
    "BACKUP_VERIFY_AUDIT_URL": ("audit", "url"),
    "BACKUP_VERIFY_TIMEZONE": ("timezone",),
})
MASK = "***"


def mask_url(url: str) -> str:
    """Hide the password of a URL (``user:pw@``, also with an empty user) or a libpq ``password=``."""
    masked = re.sub(r"(://[^:/@]*:)[^@]*@", rf"\1{MASK}@", url)
    return re.sub(r"(password\s*=\s*)(\S+)", rf"\1{MASK}", masked)


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data that is safe to print or log."""
    data = settings.model_dump(mode="json")
    for section in ("production", "scratch", "audit"):
        if data[section].get("url"):
            data[section]["url"] = mask_url(data[section]["url"])
    for s3 in (data.get("s3"), (data.get("pgbackrest") or {}).get("repo")):
        for role in ("primary", "replica"):
            region = (s3 or {}).get(role)
            for key in ("secret_access_key", "session_token"):
                if region and region.get(key) is not None:
                    region[key] = MASK
    return data


def load_settings(config_file: str | Path | None = None,
                  environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build validated settings; raises ConfigError listing every problem at once."""
    try:
        return load_layered(Settings, ENV_LAYOUT, config_file=config_file,
                            environ=os.environ if environ is None else environ, overrides=overrides)
    except SettingsProblems as exc:
        raise ConfigError(exc.problems) from None
