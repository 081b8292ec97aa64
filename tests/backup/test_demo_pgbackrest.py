"""The demo's physical path against test servers: pgBackRest archiving through socat TLS, both kinds verified.

Runs in a child process so that the demo's directory and TLS port (read from
``DBHEALTH_DEMO_*`` at import, as ``dbhealth-demo up`` does) are this test's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from ..support.ports import free_port
from ..support.postgres import PostgresServer
from .harness import REPO
from .moto_s3 import MotoServer

SCRIPT = textwrap.dedent("""
    import subprocess, sys, yaml
    from datetime import date
    import psycopg
    from demo import backups, pgbackrest as physical
    from demo.seed import SeedScale, apply_schema, seed
    from exporter.migrate import migrate
    from tests.support.ports import wait_for_port
    from tests.support.postgres import PostgresServer
    s3_url, s3_port, scratch_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    socat = subprocess.Popen(physical.tls_argv(s3_port))
    cluster = PostgresServer()
    try:
        cluster.start()
        wait_for_port(physical.TLS_PORT)
        dsn = cluster.create_database("wedsync")
        with psycopg.connect(dsn, autocommit=True) as conn:
            apply_schema(conn)
            seed(conn, SeedScale(weddings=40, guests_per_wedding=5, weddings_today=2), date.today(),
                 progress=lambda _m: None)
        migrate(dsn, progress=lambda _m: None)
        backups.enable_wal_archiving(cluster, print)
        backups.physical_backup(cluster, print, endpoint=s3_url)
        backups.take_backup(dsn, print, endpoint=s3_url)
        config = backups.verifier_config(dsn, cluster, s3_url, with_physical=True)
        config["scratch"] = {"url": f"postgresql://postgres@127.0.0.1:{scratch_port}/postgres"}
        path = backups.ROOT / "verify.yml"
        path.write_text(yaml.safe_dump(config))
        done = subprocess.run([sys.executable, "-m", "backup", "--config.file", str(path)],
                              capture_output=True, text=True)
        print(done.stdout)
        print(done.stderr[-3000:], file=sys.stderr)
        sys.exit(done.returncode)
    finally:
        cluster.destroy()
        socat.terminate()
        socat.wait()
""")


def test_demo_archives_with_pgbackrest_and_verifies_physical_and_logical(moto: MotoServer,
                                                                          pg_server: PostgresServer) -> None:
    home = Path(tempfile.mkdtemp(prefix="dbhealth-demo-pgbr-"))
    home.chmod(0o755)  # the server and pgBackRest run as the postgres user
    try:
        env = {**os.environ, "DBHEALTH_DEMO_DIR": str(home), "DBHEALTH_DEMO_S3_TLS_PORT": str(free_port())}
        done = subprocess.run([sys.executable, "-c", SCRIPT, moto.url, str(moto.port), str(pg_server.port)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        assert "demo: pgbackrest --type=full backup done" in done.stdout
        kinds: dict[str, set[str]] = {}
        for line in done.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] in {"PASSED", "FAILED", "ERROR"}:
                kinds.setdefault(parts[2], set()).add(parts[1])
        assert kinds == {"logical": {"PASSED"}, "physical": {"PASSED"}}, done.stdout
        assert "wal           PASSED  physical" in done.stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)
