"""The verifier's exceptions: one small hierarchy, caught at the check and run boundaries."""

from __future__ import annotations


class BackupVerifyError(Exception):
    """Base class of every error the verifier raises on purpose."""


class ConfigError(BackupVerifyError):
    """Settings are invalid; carries every problem found, each naming its key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


class CouldNotRun(BackupVerifyError):
    """A dependency of a check is unavailable (S3, a database, a tool): no verdict possible."""


class SourceUnavailable(CouldNotRun):
    """The backup store did not answer (endpoint down, credentials refused, bucket missing)."""


class RestoreRefused(CouldNotRun):
    """The restore target is production or not a throwaway database: refused whatever the settings."""


class RestoreFailed(BackupVerifyError):
    """The backup did not restore; the message is sanitized tool output (no data values)."""
