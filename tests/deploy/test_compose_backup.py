"""The compose `backup` profile's pgBackRest: its files agree, and its scripts work for real.

Agreement: deploy/postgres/pgbackrest.conf, the verifier's deploy/compose/backup-verify.yml,
the demo's constants (demo/pgbackrest.py) and the compose services name the same stanza,
buckets, path, regions, host, port, certificate and data directory. Real components:
make-cert.sh's certificate read back with ``cryptography``; the s3-tls command and its
healthcheck run against moto with real socat; archive-push.sh with the real pgbackrest.
(The whole chain, stanza to backup to copy to verifier: test_compose_pgbackrest.py.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from demo import pgbackrest as demo_pgbackrest

from ..backup.moto_s3 import MotoServer
from ..support.postgres import PostgresServer
from .backup_stack import CONF, HEALTHCHECK, S3Tls, make_cert, pgbackrest_conf
from .test_compose import REPO, config

VERIFIER = yaml.safe_load((REPO / "deploy/compose/backup-verify.yml").read_text())
WRAPPER = REPO / "deploy/postgres/archive-push.sh"
INIT = REPO / "deploy/postgres/pgbackrest-init.sh"
PGBACKREST_USERS = ("postgres", "pgbackrest-init")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    parsed: dict[str, Any] = config("*")["services"]
    return parsed


def mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["target"]: v for v in service.get("volumes", [])}


def flag(service: dict[str, Any], name: str) -> str:
    [value] = [a.split("=", 1)[1] for a in service["command"] if a.startswith(name + "=")]
    return str(value)


def test_the_repository_is_the_one_the_verifier_and_the_demo_know() -> None:
    conf = pgbackrest_conf()
    g = conf["global"]
    section = VERIFIER["pgbackrest"]
    primary, replica = section["repo"]["primary"], section["repo"]["replica"]
    assert conf.sections() == ["global", section["stanza"]] and section["stanza"] == demo_pgbackrest.STANZA
    assert g["repo1-type"] == "s3" and g["repo1-s3-uri-style"] == "path"
    assert g["repo1-s3-bucket"] == primary["bucket"] == demo_pgbackrest.bucket("primary")
    assert g["repo1-s3-region"] == primary["region"] == demo_pgbackrest.REGIONS["primary"]
    assert replica["bucket"] == demo_pgbackrest.bucket("replica")
    assert replica["region"] == demo_pgbackrest.REGIONS["replica"]
    for region in (primary, replica):
        assert g["repo1-path"].strip("/") == region["prefix"].strip("/") == demo_pgbackrest.REPO_PATH
        assert region["addressing_style"] == "path"
    # What the verifier's integrity check reads: gzip, bundles (docs/backup.md).
    assert g["compress-type"] == "gz" and g["repo1-bundle"] == "y"
    assert not any(k.startswith("repo1-cipher") for k in g)


def test_pgbackrest_reaches_s3_tls_by_its_name_and_port_with_its_certificate(
        services: dict[str, Any]) -> None:
    g = pgbackrest_conf()["global"]
    s3_tls = services["s3-tls"]
    listen, target = s3_tls["command"][1:]
    assert g["repo1-s3-endpoint"] == "s3-tls" and "repo1-storage-host" not in g
    assert re.match(rf"OPENSSL-LISTEN:{g['repo1-storage-port']},", listen)
    assert "verify=0" in listen  # no client certificates; the clients check the server's
    assert target == f"TCP:s3:{services['s3']['environment']['MOTO_PORT']}"
    cert_dir = str(Path(g["repo1-storage-ca-file"]).parent)
    assert f"cert={cert_dir}/cert.pem" in listen and f"key={cert_dir}/key.pem" in listen
    cert_job = services["s3-tls-cert"]
    assert cert_job["command"][2:4] == [cert_dir, "s3-tls"]
    for name in ("s3-tls", "s3-tls-cert", *PGBACKREST_USERS, "backup-verifier"):
        volume = mounts(services[name])[cert_dir]
        assert volume["type"] == "volume" and volume["source"] == "s3-tls", name
        assert bool(volume.get("read_only")) == (name != "s3-tls-cert"), name
    for region in VERIFIER["pgbackrest"]["repo"].values():
        url = urlparse(region["endpoint_url"])
        assert (url.scheme, url.hostname, url.port) == ("https", "s3-tls", int(g["repo1-storage-port"]))
        assert region["ca_bundle"] == g["repo1-storage-ca-file"]
    # The key goes to the user s3-tls runs as (deploy/s3-tls/Dockerfile).
    dockerfile = (REPO / "deploy/s3-tls/Dockerfile").read_text()
    [user] = re.findall(r"(?m)^USER (\S+)$", dockerfile)
    assert cert_job["command"][4] == user and s3_tls.get("user") is None
    assert re.search(r"socat=\d[\w.+~-]*-\d", dockerfile)  # pinned to a Debian revision


def test_pgbackrest_runs_beside_the_server_on_its_data_and_socket(services: dict[str, Any]) -> None:
    section = pgbackrest_conf()[VERIFIER["pgbackrest"]["stanza"]]
    for name in PGBACKREST_USERS:
        service = services[name]
        volumes = mounts(service)
        assert volumes[section["pg1-path"]]["source"] == "pgdata", name
        assert volumes[section["pg1-socket-path"]]["source"] == "pgsocket", name
        config_mount = volumes["/etc/pgbackrest/pgbackrest.conf"]
        assert Path(config_mount["source"]) == CONF and config_mount["read_only"], name
        assert service["environment"]["PGBACKREST_STANZA"] == VERIFIER["pgbackrest"]["stanza"], name
    assert mounts(services["pgbackrest-init"])[section["pg1-path"]]["read_only"]  # backup only reads
    assert section["pg1-port"] == "5432"
    init = services["pgbackrest-init"]
    assert init["user"] == "postgres" and init["image"] == services["postgres"]["image"]
    assert Path(mounts(init)[init["entrypoint"][1]]["source"]) == INIT


def test_the_compose_postgres_archives_through_the_marker_gated_wrapper(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    command = " ".join(postgres["command"])
    assert "archive_mode=on" in command and "wal_level=replica" in command
    archive_command = flag(postgres, "archive_command")
    shell, wrapper, placeholder = archive_command.split()
    assert shell == "/bin/sh" and placeholder == "%p"
    assert Path(mounts(postgres)[wrapper]["source"]) == WRAPPER
    # `pgbackrest check` and `backup` refuse an archive_command that does not contain "pgbackrest".
    assert "pgbackrest" in archive_command
    # An idle server closes a segment every archive_timeout: the RPO is bounded by it (SPEC 6).
    assert int(flag(postgres, "archive_timeout")) <= 300
    marker = re.search(r"DBHEALTH_ARCHIVE_MARKER:-(\S+?)\}", WRAPPER.read_text())
    assert marker is not None and marker.group(1) in INIT.read_text()
    marker_dir = str(Path(marker.group(1)).parent)
    volume, writer = mounts(postgres)[marker_dir], mounts(services["pgbackrest-init"])[marker_dir]
    assert volume["source"] == writer["source"] == "archive-marker"
    assert volume["read_only"] and not writer.get("read_only")  # only the init job arms it


def test_s3_keys_reach_pgbackrest_only_from_the_secret_file(services: dict[str, Any]) -> None:
    text = CONF.read_text()
    assert not re.search(r"(?m)^\s*repo\d*-s3-(key|key-secret|token)\s*=", text)
    assert not re.search(r"(?m)^\s*repo\d*-cipher-pass\s*=", text)
    for name in (*PGBACKREST_USERS, "backup-verifier"):
        env = services[name]["environment"]
        assert env["PGBACKREST_REPO1_S3_KEY_SECRET_FILE"] == "/run/secrets/s3_secret_key", name
        assert "PGBACKREST_REPO1_S3_KEY_SECRET" not in env and env["PGBACKREST_REPO1_S3_KEY"], name
        assert "s3_secret_key" in {s["source"] for s in services[name]["secrets"]}, name
    for region in VERIFIER["pgbackrest"]["repo"].values():
        assert not {"access_key_id", "secret_access_key", "session_token"} & set(region)


def test_the_verifier_waits_for_the_stanza_and_the_copy_and_can_drill(services: dict[str, Any]) -> None:
    verifier = services["backup-verifier"]
    assert verifier["depends_on"]["pgbackrest-init"]["condition"] == "service_completed_successfully"
    assert verifier["depends_on"]["pgbackrest-sync"]["condition"] == "service_healthy"
    assert set(services["pgbackrest-init"]["depends_on"]) == {"db-init", "postgres", "s3-tls",
                                                             "pgbackrest-buckets"}
    work_dir = VERIFIER["pgbackrest"]["drill"]["work_dir"]
    assert mounts(verifier)[work_dir]["type"] == "volume" and not mounts(verifier)[work_dir].get("read_only")
    stages = re.split(r"(?m)^FROM ", (REPO / "Dockerfile").read_text())
    [stage] = [s for s in stages if s.startswith("runtime AS verifier")]
    assert f"install -d -o 10001 -g 10001 -m 0700 {work_dir}" in stage
    common = stage.index("install -y --no-install-recommends postgresql-common")
    told = stage.index("create_main_cluster = false")
    server = stage.index("postgresql-15 pgbackrest=")
    assert common < told < server  # no cluster is created (or started) in the image
    for name in ("pgbackrest-buckets", "pgbackrest-sync"):
        assert "http://s3:5000" in services[name]["command"], name


def test_both_images_run_the_pgbackrest_these_tests_ran() -> None:
    pins = {path: re.findall(r"pgbackrest=(\S+)", (REPO / path).read_text())
            for path in ("Dockerfile", "deploy/postgres/Dockerfile")}
    assert pins == {"Dockerfile": ["2.45-1"], "deploy/postgres/Dockerfile": ["2.45-1"]}
    assert "postgresql-15-hypopg" in (REPO / "deploy/postgres/Dockerfile").read_text()
    if shutil.which("pgbackrest"):
        here = subprocess.run(["pgbackrest", "version"], capture_output=True, text=True, timeout=30)
        assert here.stdout.strip() == "pgBackRest 2.45"


# --- real components ---------------------------------------------------------------------


def test_make_cert_names_the_service_in_a_dns_only_san_and_keeps_a_good_cert(tmp_path: Path) -> None:
    done = make_cert(tmp_path)
    assert done.returncode == 0, done.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["s3-tls"]
    assert not san.get_values_for_type(x509.IPAddress)  # pgBackRest 2.45 ignores IP SANs
    key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cert.pem").stat().st_mode & 0o777 == 0o644
    before = (tmp_path / "cert.pem").read_bytes()
    again = make_cert(tmp_path)
    assert again.returncode == 0 and "kept" in again.stdout
    assert (tmp_path / "cert.pem").read_bytes() == before
    renamed = make_cert(tmp_path, "s3-tls.example")  # another name: a new certificate
    assert renamed.returncode == 0 and "wrote" in renamed.stdout
    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["s3-tls.example"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "key.pem"]


@pytest.fixture(scope="module")
def s3_tls(services: dict[str, Any]) -> Iterator[S3Tls]:
    # No skip: scripts/setup.sh installs socat and pgbackrest, so their absence is a failure.
    assert shutil.which("socat") and shutil.which("pgbackrest"), "run scripts/setup.sh"
    moto = MotoServer()
    moto.start()
    stack = S3Tls(moto, services["s3-tls"])
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        moto.stop()


def healthcheck(s3_tls: S3Tls, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(HEALTHCHECK)], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "S3_TLS_PORT": str(s3_tls.port),
                               "S3_TLS_CA": str(s3_tls.cert), **env})


def test_the_s3_tls_command_serves_moto_and_its_healthcheck_checks_the_name(
        s3_tls: S3Tls, services: dict[str, Any]) -> None:
    assert services["s3-tls"]["healthcheck"]["test"][-1] == "/opt/s3-tls/healthcheck.sh"
    ok = healthcheck(s3_tls)
    assert ok.returncode == 0, ok.stderr
    wrong_name = healthcheck(s3_tls, S3_TLS_NAME="s3")
    assert wrong_name.returncode == 1 and "does not match" in wrong_name.stderr
    other_ca = s3_tls.dir / "other"
    other_ca.mkdir()
    assert make_cert(other_ca).returncode == 0
    untrusted = healthcheck(s3_tls, S3_TLS_CA=str(other_ca / "cert.pem"))
    assert untrusted.returncode == 1
    closed = healthcheck(s3_tls, S3_TLS_PORT=str(s3_tls.moto.port))  # plain HTTP: no TLS there
    assert closed.returncode == 1


@pytest.fixture(scope="module")
def datadir() -> Iterator[Path]:
    """A data directory (never started): archive-push reads its pg_control before anything."""
    server = PostgresServer()
    yield server.datadir
    server.destroy()


def archive_push(tmp_path: Path, datadir: Path, marker: bool, secret: Path | None = None,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    segment = tmp_path / "pg_wal" / "000000010000000000000003"
    segment.parent.mkdir(exist_ok=True)
    segment.write_bytes(b"\0" * 8192)
    if marker:
        (tmp_path / "stanza-ready").write_text("stanza wedsync\n")
    if secret is None:
        secret = tmp_path / "s3_secret_key"
        secret.write_text("s3cr3t\n")
    return subprocess.run(
        ["sh", str(WRAPPER), str(segment)], capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PGBACKREST_CONFIG": str(CONF), "PGBACKREST_STANZA": "wedsync",
             "PGBACKREST_REPO1_S3_KEY": "k", "PGBACKREST_REPO1_S3_KEY_SECRET_FILE": str(secret),
             "PGBACKREST_PG1_PATH": str(datadir), "PGBACKREST_LOCK_PATH": str(tmp_path),
             "DBHEALTH_ARCHIVE_MARKER": str(tmp_path / "stanza-ready"),
             # pgBackRest's defaults retry for minutes; PostgreSQL sees the same non-zero exit.
             "PGBACKREST_IO_TIMEOUT": "1", "PGBACKREST_ARCHIVE_TIMEOUT": "2", **(env or {})})


def test_archive_push_before_the_marker_logs_and_reports_success_without_pgbackrest(tmp_path: Path,
                                                                                    datadir: Path) -> None:
    # The real pgbackrest is on PATH and its repository (s3-tls) unreachable from here:
    # exit 0 means it was not run, and the line in PostgreSQL's log says what was skipped.
    done = archive_push(tmp_path, datadir, marker=False)
    assert done.returncode == 0, done.stderr
    assert "skipping 000000010000000000000003, not archived" in done.stderr
    assert "no pgBackRest stanza yet" in done.stderr


def test_archive_push_after_the_marker_fails_when_the_repository_does(tmp_path: Path,
                                                                      datadir: Path) -> None:
    assert make_cert(tmp_path / "tls").returncode == 0
    ca = {"PGBACKREST_REPO1_STORAGE_CA_FILE": str(tmp_path / "tls/cert.pem")}
    done = archive_push(tmp_path, datadir, marker=True, env=ca)  # s3-tls does not resolve here
    assert done.returncode != 0 and "unable to get address for 's3-tls'" in done.stderr, done.stderr
    assert "skipping" not in done.stderr
    unreadable = archive_push(tmp_path, datadir, marker=True, secret=tmp_path / "missing", env=ca)
    assert unreadable.returncode == 1 and "cannot read" in unreadable.stderr


def test_archive_push_after_the_marker_fails_on_a_certificate_for_another_name(
        tmp_path: Path, datadir: Path, s3_tls: S3Tls) -> None:
    # Reachable, but as 'localhost' (repo1-storage-host): 2.45 checks the name it connects to.
    done = archive_push(tmp_path, datadir, marker=True,
                        env={"PGBACKREST_REPO1_STORAGE_HOST": "localhost", **s3_tls.pgbackrest_env()})
    assert done.returncode != 0 and "unable to find hostname 'localhost'" in done.stderr, done.stderr
