"""The compose `backup` profile's pieces, run for real outside Docker (no daemon here).

``S3Tls`` is moto plus the socat terminator started from the *compose* command of
``s3-tls`` (only its port, the certificate directory and moto's address substituted),
with the certificate made by ``deploy/s3-tls/make-cert.sh``. pgBackRest 2.45 checks
the certificate against the host it connects to (``repo1-storage-host`` or the
endpoint), so clients must reach ``s3-tls`` by that name: ``in_namespace`` runs a
command in a private mount namespace whose ``/etc/hosts`` says ``127.0.0.1 s3-tls``
(root only; the machine's own /etc/hosts is untouched).
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..backup.moto_s3 import MotoServer
from ..backup.tls_s3 import TlsTerminator
from ..support.ports import wait_for_port
from .test_compose import REPO

CONF = REPO / "deploy/postgres/pgbackrest.conf"
MAKE_CERT = REPO / "deploy/s3-tls/make-cert.sh"
HEALTHCHECK = REPO / "deploy/s3-tls/healthcheck.sh"
CERT_DIR = "/etc/s3-tls"  # where compose mounts the s3-tls volume


def pgbackrest_conf() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(CONF.read_text())
    return parser


def make_cert(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(MAKE_CERT), str(directory), *args], capture_output=True, text=True,
                          timeout=60)


def can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    done = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10)
    return done.returncode == 0


def in_namespace(hosts: Path, argv: list[str], read_only: Path | None = None) -> list[str]:
    """``argv`` with ``hosts`` as /etc/hosts (and ``read_only`` mounted read-only), privately."""
    script = 'mount --bind "$0" /etc/hosts'
    if read_only is not None:
        script += f' && mount --bind "{read_only}" "{read_only}" && mount -o remount,bind,ro "{read_only}"'
    return ["unshare", "-m", "sh", "-c", script + ' && exec "$@"', str(hosts), *argv]


class S3Tls(TlsTerminator):
    """moto, and in front of it the compose s3-tls command with a make-cert.sh certificate
    (the backup tests' terminator, started from compose's own command and certificate)."""

    def __init__(self, moto: MotoServer, s3_tls: dict[str, Any]):
        super().__init__(moto)
        self.tls = self.dir / "tls"
        self.cert = self.tls / "cert.pem"
        self.url = f"https://s3-tls:{self.port}"
        self.hosts = self.dir / "hosts"
        self.argv = [self._local(arg) for arg in s3_tls["command"]]

    def _local(self, arg: str) -> str:
        arg = arg.replace("OPENSSL-LISTEN:9443,", f"OPENSSL-LISTEN:{self.port},bind=127.0.0.1,")
        return arg.replace(CERT_DIR, str(self.tls)).replace("TCP:s3:5000", f"TCP:127.0.0.1:{self.moto.port}")

    def start(self) -> None:
        self.tls.mkdir()
        done = make_cert(self.tls, "s3-tls")
        assert done.returncode == 0, done.stderr
        self.dir.chmod(0o755)
        self.tls.chmod(0o755)
        self.hosts.write_text("127.0.0.1 localhost s3-tls\n")
        self.hosts.chmod(0o644)
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def pgbackrest_env(self) -> dict[str, str]:
        """What differs between this machine and the compose network: the port and the CA file."""
        return {"PGBACKREST_REPO1_STORAGE_PORT": str(self.port),
                "PGBACKREST_REPO1_STORAGE_CA_FILE": str(self.cert)}
