"""boto3 clients for one region's settings, and S3 failures as :class:`SourceUnavailable`.

botocore's own response-checksum validation is switched to "when required": the
verifier computes its own SHA-256 over every byte it reads, and a second checksum
pass (CRC32/CRC64 on the same bytes) would only cost CPU on the hashing path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import SourceUnavailable
from .settings import RegionSettings, S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


# One botocore session for every client: each session parses the S3 service model again
# (about 13 MiB a time), and the verifier's memory budget is 100 MiB.
_SESSION = boto3.session.Session()


@dataclass
class ObjectBody:
    """An S3 GET's body read in chunks of a bounded size, with the object's metadata."""

    metadata: dict[str, str]
    body: Any
    chunk_bytes: int

    def chunks(self) -> Iterator[bytes]:
        return iter(self.body.iter_chunks(self.chunk_bytes))


def make_client(region: RegionSettings, s3: S3Settings) -> S3Client:
    config = Config(
        region_name=region.region,
        connect_timeout=s3.connect_timeout_seconds,
        read_timeout=s3.read_timeout_seconds,
        retries={"max_attempts": s3.max_attempts, "mode": "standard"},
        s3={"addressing_style": region.addressing_style},
        response_checksum_validation="when_required",
        request_checksum_calculation="when_required",
    )
    verify: bool | str = region.ca_bundle or region.verify_tls
    client: S3Client = _SESSION.client(
        "s3",
        endpoint_url=region.endpoint_url,
        aws_access_key_id=region.access_key_id,
        aws_secret_access_key=(region.secret_access_key.get_secret_value()
                               if region.secret_access_key else None),
        aws_session_token=region.session_token.get_secret_value() if region.session_token else None,
        config=config,
        verify=verify,
    )
    return client


def describe(exc: Exception) -> str:
    """A short reason without request ids, signatures or object contents."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "?")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return f"S3 {exc.operation_name} failed: {code} (HTTP {status})"
    return f"S3 unreachable: {type(exc).__name__}: {exc}"


@contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """Turn botocore failures into SourceUnavailable naming what was being done."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise SourceUnavailable(f"{what}: {describe(exc)}") from exc
