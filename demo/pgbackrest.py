"""The demo's physical backups: pgBackRest archiving WAL into the local S3, through a TLS terminator.

pgBackRest speaks S3 over TLS only, and moto's own TLS breaks its PUTs (turn2-anchors
3.1), so ``socat`` terminates TLS on ``127.0.0.1:$DBHEALTH_DEMO_S3_TLS_PORT`` (9443) in
front of moto, with a self-signed certificate for ``localhost`` that pgBackRest checks
(``repo1-storage-ca-file``). The demo cluster's ``archive_command`` pushes WAL into the
``wedsync-pgbackrest-eu-west-2`` bucket (repo path ``/pgbackrest``, stanza ``wedsync``,
``repo1-bundle=y``); ``dbhealth-demo up`` takes a full backup at start, copies the
repository to ``wedsync-pgbackrest-eu-west-1`` (the stand-in for S3 replication) and the
verifier checks it beside the logical dumps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cluster import LocalCluster

Progress = Callable[[str], None]
ROOT = Path(os.environ.get("DBHEALTH_DEMO_DIR", ".demo")).resolve()
TLS_PORT = int(os.environ.get("DBHEALTH_DEMO_S3_TLS_PORT", "9443"))
STANZA = "wedsync"
REPO_PATH = "pgbackrest"
REGIONS = {"primary": "eu-west-2", "replica": "eu-west-1"}
KEY, SECRET = "demo-access-key", "demo-secret-key"  # moto accepts any; printed on purpose


def bucket(role: str) -> str:
    return f"wedsync-pgbackrest-{REGIONS[role]}"


def home() -> Path:
    return ROOT / "pgbackrest"


def cert() -> Path:
    return home() / "tls" / "cert.pem"


def ensure_cert() -> Path:
    """A self-signed certificate for localhost (kept across runs), and key+cert for socat."""
    tls = home() / "tls"
    both = tls / "both.pem"
    if not both.exists():
        tls.mkdir(parents=True, exist_ok=True)
        key = tls / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert()), "-days", "3650", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        both.write_bytes(key.read_bytes() + cert().read_bytes())
        both.chmod(0o600)
        cert().chmod(0o644)
    return both


def tls_argv(s3_port: int) -> list[str]:
    return ["socat", f"OPENSSL-LISTEN:{TLS_PORT},bind=127.0.0.1,reuseaddr,fork,cert={ensure_cert()},verify=0",
            f"TCP:127.0.0.1:{s3_port}"]


def conf_text(cluster: LocalCluster) -> str:
    work = home() / "work"
    return "\n".join([
        "[global]", "repo1-type=s3", f"repo1-path=/{REPO_PATH}", f"repo1-s3-bucket={bucket('primary')}",
        "repo1-s3-endpoint=localhost", f"repo1-storage-port={TLS_PORT}",
        f"repo1-s3-region={REGIONS['primary']}", "repo1-s3-uri-style=path",
        f"repo1-storage-ca-file={cert()}", "repo1-retention-full=2", "repo1-bundle=y", "start-fast=y",
        "compress-type=gz", "process-max=2", f"log-path={work}", f"lock-path={work}", f"spool-path={work}",
        "log-level-console=warn", "log-level-file=info",
        f"[{STANZA}]", f"pg1-path={cluster.datadir}", f"pg1-port={cluster.port}",
        f"pg1-socket-path={cluster.root}", ""])


def configure(cluster: LocalCluster) -> Path:
    """Write pgbackrest.conf (no secrets: those go in the environment) readable by the server's user."""
    ensure_cert()
    (home() / "work").mkdir(parents=True, exist_ok=True)
    conf = home() / "pgbackrest.conf"
    conf.write_text(conf_text(cluster))
    if os.geteuid() == 0:
        for path in (home(), home() / "work", home() / "tls", cert(), conf):
            shutil.chown(path, "postgres", "postgres")
    return conf


def archive_command(conf: Path) -> str:
    return (f"PGBACKREST_REPO1_S3_KEY={KEY} PGBACKREST_REPO1_S3_KEY_SECRET={SECRET} "
            f"pgbackrest --config={conf} --stanza={STANZA} archive-push %p")


def pgbackrest(conf: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    argv = ["pgbackrest", f"--config={conf}", f"--stanza={STANZA}", *args]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    env = {**os.environ, "PGBACKREST_REPO1_S3_KEY": KEY, "PGBACKREST_REPO1_S3_KEY_SECRET": SECRET}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)


def replicate(client: Any, replica: Any) -> int:
    """Copy every key the replica bucket lacks (what S3 replication would do); returns how many."""
    def keys(c: Any, name: str) -> set[str]:
        pages = c.get_paginator("list_objects_v2").paginate(Bucket=name)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    missing = sorted(keys(client, bucket("primary")) - keys(replica, bucket("replica")))
    for key in missing:
        body = client.get_object(Bucket=bucket("primary"), Key=key)["Body"].read()
        replica.put_object(Bucket=bucket("replica"), Key=key, Body=body)
    return len(missing)


def verifier_section(endpoint: str | None = None) -> dict[str, Any]:
    url = endpoint or f"https://localhost:{TLS_PORT}"
    regions = {role: {"region": region, "bucket": bucket(role), "prefix": REPO_PATH, "endpoint_url": url,
                      "access_key_id": KEY, "secret_access_key": SECRET, "addressing_style": "path",
                      "ca_bundle": str(cert())} for role, region in REGIONS.items()}
    return {"stanza": STANZA, "repo": regions, "parallel": 2}
