"""Settings and policy validation: every problem at once, each naming its key; secrets masked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from receiver.errors import ConfigError
from receiver.settings import load_settings

from ..support.receiver_stack import REPO, make_policy, receiver_env, write_policy


def _problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return caught.value.details


def test_missing_required_settings_are_all_named() -> None:
    problems = _problems({"RECEIVER_POOL_SIZE": "0", "RECEIVER_SMTP_URLL": "smtp://x:25"})
    joined = "\n".join(problems)
    for key in ("RECEIVER_DATABASE_URL", "RECEIVER_CONFIG", "RECEIVER_POOL_SIZE"):
        assert key in joined
    assert "RECEIVER_SMTP_URLL: unknown setting" in problems


def test_bad_env_and_bad_policy_are_reported_together(tmp_path: Path) -> None:
    policy = make_policy()
    policy["contacts"][0]["phone"] = "07700 900001"
    policy["tiers"][1]["contacts"] = ["nobody"]
    policy["surprise"] = True
    path = write_policy(policy, tmp_path)
    env = receiver_env("postgresql://u@h/db", path, RECEIVER_SMTP_URL="http://mail",
                       RECEIVER_SMTP_STARTTLS="sometimes")
    joined = "\n".join(_problems(env))
    assert "RECEIVER_SMTP_URL" in joined and "RECEIVER_SMTP_STARTTLS" in joined
    assert "policy contacts.0.phone: Value error, must be an E.164 number" in joined
    assert "policy surprise: Extra inputs are not permitted" in joined


def test_cross_references_and_templates_are_checked(tmp_path: Path) -> None:
    policy = make_policy(templates={"page_sms": "{{ broken", "nonsense": "x"})
    path = write_policy(policy, tmp_path)
    joined = "\n".join(_problems(receiver_env("postgresql://u@h/db", path)))
    assert "unknown template(s) nonsense" in joined
    policy = make_policy(templates={"page_sms": "{% if %}"})
    path = write_policy(policy, tmp_path)
    joined = "\n".join(_problems(receiver_env("postgresql://u@h/db", path)))
    assert "templates.page_sms" in joined
    policy = make_policy()
    policy["tiers"][1]["contacts"] = ["nobody"]
    joined = "\n".join(_problems(receiver_env("postgresql://u@h/db",
                                              write_policy(policy, tmp_path))))
    assert "tiers.1.contacts: unknown contact(s) nobody" in joined


def test_some_authentication_is_required(tmp_path: Path) -> None:
    env = receiver_env("postgresql://u@h/db", write_policy(make_policy(), tmp_path))
    del env["RECEIVER_AUTH_TOKEN"], env["RECEIVER_BASIC_AUTH_USER"]
    assert any("RECEIVER_AUTH_TOKEN" in p for p in _problems(env))
    env["RECEIVER_BASIC_AUTH_USER"] = "am"
    del env["RECEIVER_BASIC_AUTH_PASSWORD"]
    assert any("RECEIVER_BASIC_AUTH_PASSWORD" in p for p in _problems(env))


def test_a_broken_policy_names_the_place_not_the_contact(tmp_path: Path) -> None:
    """PyYAML's own message quotes the offending line: here a phone number."""
    policy = tmp_path / "policy.yml"
    policy.write_text('contacts:\n  alice:\n    phone: "+447700900123\n    email: [\n')
    env = receiver_env("postgresql://u@h/db", str(policy))
    [problem] = _problems(env)
    assert problem.startswith(f"RECEIVER_CONFIG: {policy} is not valid YAML: ")
    assert "line " in problem and "7700900123" not in problem


def test_unreadable_policy_is_one_clear_error(tmp_path: Path) -> None:
    env = receiver_env("postgresql://u@h/db", str(tmp_path / "missing.yml"))
    assert _problems(env) == [f"RECEIVER_CONFIG: cannot read {tmp_path / 'missing.yml'}:"
                              " No such file or directory"]


def test_describe_masks_every_secret(tmp_path: Path) -> None:
    env = receiver_env("postgresql://svc:hunter2@db/receiver", write_policy(make_policy(),
                                                                             tmp_path),
                       RECEIVER_SMTP_URL="smtp://mailer:smtp-pass@mail:587")
    shown = json.dumps(load_settings(env).describe(), default=str)
    for secret in ("hunter2", "smtp-pass", "sms-secret", "basic-secret", "test-token", "+44"):
        assert secret not in shown
    assert "postgresql://svc:****@db/receiver" in shown


def test_cli_check_config_and_migrate(tmp_path: Path, receiver_dsn: str) -> None:
    env = {**receiver_env(receiver_dsn, write_policy(make_policy(), tmp_path)),
           "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    shown = subprocess.run([sys.executable, "-m", "receiver", "check-config"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert json.loads(shown.stdout)["auth_token"] == "****"
    # The vendor query runs against the receiver's own database here: no WedSync tables.
    assert shown.returncode == 1 and "vendors.query" in shown.stderr, shown.stderr
    quiet = write_policy(make_policy(vendors={"enabled": False}), tmp_path)
    subprocess.run([sys.executable, "-m", "receiver", "check-config"],
                   env={**env, "RECEIVER_CONFIG": quiet}, capture_output=True, text=True,
                   timeout=60, check=True)
    migrated = subprocess.run([sys.executable, "-m", "receiver", "migrate"], env=env,
                              capture_output=True, text=True, timeout=60, check=True)
    assert "schema is up to date" in migrated.stdout
    bad = subprocess.run([sys.executable, "-m", "receiver", "check-config"],
                         env={**env, "RECEIVER_POOL_SIZE": "x"}, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "RECEIVER_POOL_SIZE" in bad.stderr


def test_example_policy_is_valid(tmp_path: Path) -> None:
    settings = load_settings(receiver_env("postgresql://u@h/db",
                                          str(REPO / "receiver" / "example-policy.yml")))
    assert [t.after_seconds for t in settings.policy.tiers] == [0, 600, 1800]
