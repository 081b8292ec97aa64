"""moto behind a TLS terminator (socat), as pgBackRest needs: it speaks S3 over TLS only.

pgBackRest 2.45 against moto's own TLS fails on the first PUT (Werkzeug closes without
close_notify; turn2-anchors 3.1); socat in front of plain moto works, with the
certificate checked (SAN ``DNS:localhost``: 2.45 does not match IP SANs).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..support.ports import free_port, wait_for_port
from .moto_s3 import MotoServer


class TlsTerminator:
    def __init__(self, moto: MotoServer):
        self.moto = moto
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dbhealth-tls-"))
        self.cert = self.dir / "cert.pem"
        self.url = f"https://localhost:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        key = self.dir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(self.cert), "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        both = self.dir / "both.pem"
        both.write_bytes(key.read_bytes() + self.cert.read_bytes())
        self.dir.chmod(0o755)
        self.cert.chmod(0o644)
        self._proc = subprocess.Popen(
            ["socat", f"OPENSSL-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork,cert={both},verify=0",
             f"TCP:127.0.0.1:{self.moto.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
