"""``pgbackrest restore`` into a scratch directory, started on its own port and socket, torn down after.

The copy never archives (``--archive-mode=off`` for pgBackRest and ``-c archive_mode=off``
for the server: a promoted copy must not push a timeline 2 into production's stanza),
listens on no TCP address, only on a socket in its own 0700 directory, with an
``hba_file`` of our own (``local all all trust``): the restored ``pg_hba.conf`` is
production's. S3 credentials reach pgBackRest (and the copy's ``archive-get``) through
``PGBACKREST_REPO1_*`` environment variables, never argv or a file. The clock stops
when ``pg_is_in_recovery()`` is false: ``pg_ctl -w`` returns at the consistent
point, mid-replay (turn2-anchors 3.1, trap 1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import psycopg

from ..errors import CouldNotRun, RestoreFailed
from ..model import Progress
from ..sanitize import sanitize
from ..settings import PgBackRestSettings, RegionSettings

HBA = "local all all trust\n"


@dataclass
class Restored:
    dsn: str
    phases: dict[str, float] = field(default_factory=dict)
    replayed_to: datetime | None = None


def repo_options(region: RegionSettings, stanza: str, pg_path: Path, work: Path) -> str:
    """Pure: the pgbackrest.conf of the drill (no secrets in it)."""
    url = urlparse(region.endpoint_url or f"https://s3.{region.region}.amazonaws.com")
    lines = ["[global]", "repo1-type=s3", f"repo1-path=/{region.prefix.rstrip('/')}",
             f"repo1-s3-bucket={region.bucket}", f"repo1-s3-endpoint={url.hostname}",
             f"repo1-s3-region={region.region}", f"log-path={work}", f"lock-path={work}",
             f"spool-path={work}", "log-level-console=warn", "log-level-file=off"]
    if url.port:
        lines.append(f"repo1-storage-port={url.port}")
    if region.addressing_style == "path":
        lines.append("repo1-s3-uri-style=path")
    if not region.verify_tls:
        lines.append("repo1-storage-verify-tls=n")
    if region.ca_bundle:
        lines.append(f"repo1-storage-ca-file={region.ca_bundle}")
    lines += [f"[{stanza}]", f"pg1-path={pg_path}"]
    return "\n".join(lines) + "\n"


def restore_argv(binary: str, config: Path, stanza: str, label: str, target: datetime | None) -> list[str]:
    argv = [binary, f"--config={config}", f"--stanza={stanza}", "--archive-mode=off", f"--set={label}"]
    if target is not None:
        argv += ["--type=time", f"--target={target.isoformat(sep=' ')}", "--target-action=promote"]
    return [*argv, "restore"]


def credentials_env(region: RegionSettings) -> dict[str, str]:
    env = {}
    if region.access_key_id and region.secret_access_key:
        env["PGBACKREST_REPO1_S3_KEY"] = region.access_key_id
        env["PGBACKREST_REPO1_S3_KEY_SECRET"] = region.secret_access_key.get_secret_value()
    if region.session_token:
        env["PGBACKREST_REPO1_S3_TOKEN"] = region.session_token.get_secret_value()
    return env


def _as_user(argv: list[str], user: str) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], env: dict[str, str], timeout: float, what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, **env})
    except subprocess.TimeoutExpired:
        raise RestoreFailed(f"{what} did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RestoreFailed(f"{what} exited {done.returncode}: {sanitize(' '.join(tail))[:400]}")


def _log_tail(log: Path) -> str:
    text = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
    return sanitize(" ".join(text))[:400]


def _wait_promoted(dsn: str, alive: Callable[[], bool], deadline: float, log: Path) -> datetime | None:
    while True:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_catalog.pg_is_in_recovery(), "
                                   "pg_catalog.pg_last_xact_replay_timestamp()").fetchone()
                if row is not None and row[0] is False:
                    return row[1]  # type: ignore[no-any-return]
        except psycopg.OperationalError:
            pass
        if not alive():
            raise RestoreFailed("the restored server stopped before promotion: " + _log_tail(log))
        if time.monotonic() > deadline:
            raise RestoreFailed("the restored server did not finish recovery in time")
        time.sleep(0.2)


@contextmanager
def restored(settings: PgBackRestSettings, region: RegionSettings, label: str, target: datetime | None,
             dbname: str, bindir: Path, progress: Progress) -> Iterator[Restored]:
    """A running, promoted copy of ``label`` (recovered to ``target`` or to the end of the archive)."""
    binary = shutil.which(settings.binary)
    if binary is None:
        raise CouldNotRun(f"{settings.binary} not found on PATH: the drill could not run")
    d = settings.drill
    work = Path(tempfile.mkdtemp(prefix="dbhealth-pitr-", dir=d.work_dir))
    data, sock = work / "data", work / "sock"
    sock.mkdir(mode=0o700)
    (work / "pg_hba.conf").write_text(HBA)
    config = work / "pgbackrest.conf"
    config.write_text(repo_options(region, settings.stanza, data, work))
    if os.geteuid() == 0:
        for path in (work, sock, work / "pg_hba.conf", config):
            shutil.chown(path, d.user if d.user != "postgres" else "postgres")
    env = credentials_env(region)
    port = d.port or _free_port()
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    options = {"port": str(port), "listen_addresses": "''", "unix_socket_directories": f"'{sock}'",
               "archive_mode": "off", "hba_file": f"'{work / 'pg_hba.conf'}'", "ssl": "off",
               **d.server_options}
    deadline = time.monotonic() + d.timeout_seconds
    started = False
    try:
        result = Restored(dsn=f"host={sock} port={port} dbname={dbname} user={d.user}")
        clock = time.monotonic()
        progress(f"restore: pgbackrest restore --set={label}"
                 + (f" --type=time --target='{target.isoformat()}'" if target else " (to the end of WAL)"))
        _run(_as_user(restore_argv(binary, config, settings.stanza, label, target), d.user), env,
             d.timeout_seconds, "pgbackrest restore")
        result.phases["restore"] = round(time.monotonic() - clock, 3)
        recovery = time.monotonic()
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        started = True
        # -w returns at the consistent point (hot standby open), mid-replay: promotion is polled below.
        wait = str(max(int(deadline - time.monotonic()), 1))
        try:
            _run(_as_user([*pg_ctl, "-l", str(work / "server.log"), "-o", opts, "-w", "-t", wait, "start"],
                          d.user), env, d.timeout_seconds, "pg_ctl start")
        except RestoreFailed:
            tail = _log_tail(work / "server.log")
            raise RestoreFailed(f"the restored server did not start: {tail}") from None
        progress(f"restore: server started on socket port {port}; waiting for promotion")
        result.replayed_to = _wait_promoted(result.dsn, lambda: (data / "postmaster.pid").exists(), deadline,
                                            work / "server.log")
        result.phases["recovery"] = round(time.monotonic() - recovery, 3)
        yield result
    finally:
        if started and (data / "postmaster.pid").exists():
            with suppress(RestoreFailed):
                _run(_as_user([*pg_ctl, "-m", "immediate", "-w", "stop"], d.user), {}, 60, "pg_ctl stop")
        shutil.rmtree(work, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
