"""Receiver settings: ``RECEIVER_*`` environment variables plus the policy YAML file.

Everything is validated at start and every problem is reported at once, each
naming its environment variable or policy key. Secrets (tokens, passwords, DSN
passwords) are masked whenever settings are shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from settings_layers import yaml_error_reason

from .errors import ConfigError
from .masking import mask_url
from .policy import Policy
from .render import Templates

ENV_PREFIX = "RECEIVER_"
ENV_OTHER_USERS = {"RECEIVER_WORKERS"}  # read by gunicorn_conf / the CLI, not a setting


def _postgres_url(value: str) -> str:
    if not re.match(r"^postgres(ql)?://", value) and "=" not in value:
        raise ValueError("must be a postgresql:// URL or a libpq key=value string")
    return value


class Settings(BaseModel):
    """Field ``x`` is ``RECEIVER_X``; ``policy`` is the file named by ``RECEIVER_CONFIG``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str
    vendor_database_url: str | None = None
    config: str
    auth_token: SecretStr | None = None
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    # Room for Alertmanager's biggest group (max_alerts: 1000 in rules/alertmanager.yml).
    max_body_bytes: int = Field(default=8 * 1_048_576, ge=1024, le=64 * 1_048_576)
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=120)  # total body-read deadline
    pool_size: int = Field(default=4, ge=1, le=50)
    database_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    smtp_url: str | None = None
    smtp_starttls: Literal["auto", "required", "off"] = "auto"
    smtp_from: str = "dbhealth-receiver@localhost"
    sms_base_url: str = "https://api.twilio.com"
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from: str | None = None
    # Links in pages and the inbound-SMS webhook: where people reach this receiver.
    public_base_url: str | None = None
    link_secret: SecretStr | None = None  # HMAC key of the signed incident links
    link_ttl_seconds: float = Field(default=86400.0, ge=300, le=7 * 86400)
    read_token: SecretStr | None = None  # GET /api/v1/incidents*, never Alertmanager's token
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    policy: Policy

    @field_validator("auth_token", "basic_auth_user", "basic_auth_password", "sms_auth_token",
                     "sms_account_sid", "link_secret", "read_token", mode="before")
    @classmethod
    def _no_empty_secret(cls, value: object) -> object:
        # Fail closed: RECEIVER_AUTH_TOKEN= must not mean "no authentication".
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty (unset it instead, or give a real value)")
        if isinstance(value, str) and value != value.strip():
            raise ValueError("must not start or end with whitespace")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return _postgres_url(value)

    @field_validator("vendor_database_url")
    @classmethod
    def _vendor_url(cls, value: str | None) -> str | None:
        return _postgres_url(value) if value else None

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be smtp://[user:password@]host:port (smtps:// for implicit TLS)")
        return value

    @field_validator("sms_base_url", "public_base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/?#]+(/[^?#]*)?$", value):
            raise ValueError("must be an http:// or https:// base URL (no query or fragment)")
        return value.rstrip("/")

    @field_validator("link_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. openssl rand -hex 32)")
        return value

    @property
    def links_enabled(self) -> bool:
        return self.public_base_url is not None and self.link_secret is not None

    @property
    def sms_replies_enabled(self) -> bool:
        """Twilio signs inbound SMS with the account's auth token over our public URL."""
        return self.public_base_url is not None and self.sms_auth_token is not None

    @property
    def vendor_dsn(self) -> str:
        return self.vendor_database_url or self.database_url

    def describe(self) -> dict[str, Any]:
        """Settings safe to log: DSN passwords and secrets masked, policy summarised."""
        shown = self.model_dump(exclude={"policy"})
        for key in ("database_url", "vendor_database_url", "smtp_url"):
            if shown[key]:
                shown[key] = mask_url(shown[key])
        for key in ("auth_token", "basic_auth_password", "sms_auth_token", "link_secret",
                    "read_token"):
            shown[key] = "****" if shown[key] else None
        shown["policy"] = {"contacts": len(self.policy.contacts), "tiers": len(self.policy.tiers)}
        return shown


def _field_env(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _format(exc: ValidationError, key_of: Any) -> list[str]:
    return [f"{key_of(err['loc'])}: {err['msg']}" for err in exc.errors()]


def _load_policy(path: str, problems: list[str]) -> Any:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        problems.append(f"RECEIVER_CONFIG: cannot read {path}: {exc.strerror}")
        return None
    except yaml.YAMLError as exc:
        problems.append(f"RECEIVER_CONFIG: {path} is not valid YAML: {yaml_error_reason(exc)}")
        return None
    if not isinstance(raw, dict):
        problems.append(f"RECEIVER_CONFIG: {path} must hold a mapping")
        return None
    return raw


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build settings from the environment; raises ``ConfigError`` listing every problem."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    known = set(Settings.model_fields) - {"policy"}
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_OTHER_USERS:
            continue
        field = name[len(ENV_PREFIX):].lower()
        if field in known:
            values[field] = value
        else:  # a typo must not silently fall back to a default
            problems.append(f"{name}: unknown setting")
    policy_raw = _load_policy(values["config"], problems) if "config" in values else None
    values["policy"] = policy_raw if policy_raw is not None else {"contacts": [], "tiers": []}
    settings: Settings | None = None
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        def key(loc: tuple[Any, ...]) -> str:
            if loc and loc[0] == "policy":
                return "policy " + ".".join(str(p) for p in loc[1:] if p != "[key]") or "policy"
            return _field_env(str(loc[0])) if loc else "settings"
        found = _format(exc, key)
        # A policy file we could not read is already reported; skip the echo of its emptiness.
        problems.extend(found if policy_raw is not None else
                        [p for p in found if not p.startswith("policy")])
    if settings is not None:
        if settings.auth_token is None and settings.basic_auth_user is None:
            problems.append("RECEIVER_AUTH_TOKEN: set a bearer token and/or "
                            "RECEIVER_BASIC_AUTH_USER + RECEIVER_BASIC_AUTH_PASSWORD")
        if (settings.basic_auth_user is None) != (settings.basic_auth_password is None):
            problems.append("RECEIVER_BASIC_AUTH_PASSWORD: basic auth needs both user and password")
        if settings.link_secret is not None and settings.public_base_url is None:
            problems.append("RECEIVER_PUBLIC_BASE_URL: signed incident links (RECEIVER_LINK_SECRET)"
                            " need the receiver's public base URL")
        secrets = [s.get_secret_value() for s in (settings.auth_token, settings.basic_auth_password)
                   if s is not None]
        if settings.read_token is not None and settings.read_token.get_secret_value() in secrets:
            problems.append("RECEIVER_READ_TOKEN: must differ from Alertmanager's credentials")
        try:
            Templates(settings.policy.templates)
        except ValueError as exc:
            problems.append(f"policy {exc}")
    if problems or settings is None:
        raise ConfigError("invalid receiver settings", details=problems)
    return settings
