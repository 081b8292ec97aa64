"""A real S3 endpoint for tests: moto's server mode as a subprocess on a free port.

Tests talk to it over HTTP with boto3, exactly as the verifier talks to AWS. Every
test makes its own buckets (unique names), so one server serves the session.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from ..support.ports import free_port, wait_for_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
_bucket_numbers = itertools.count()


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        moto = Path(sys.executable).with_name("moto_server")
        self._proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def client(self, region: str) -> S3Client:
        client: S3Client = boto3.session.Session().client(
            "s3", endpoint_url=self.url, region_name=region, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))
        return client

    def new_bucket(self, region: str, stem: str = "wedsync-backups") -> str:
        name = f"{stem}-{region}-{next(_bucket_numbers)}"
        self.client(region).create_bucket(Bucket=name,
                                          CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
        return name
