"""Every alert has a runbook page the on-call can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = yaml.safe_load((REPO / "rules" / "dbhealth.rules.yml").read_text(encoding="utf-8"))
ALERTS = {r["alert"]: r for g in RULES["groups"] for r in g["rules"] if "alert" in r}
SECTIONS = ["## What it means", "## What to check", "## What to do", "## Wedding-day notes"]


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_runbook_page_exists_and_has_the_sections(alert: str) -> None:
    url = ALERTS[alert]["annotations"]["runbook_url"]
    page = REPO / url
    assert page.is_file(), f"{alert}: {url} is missing"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {alert}\n")
    missing = [s for s in SECTIONS if s not in text]
    assert not missing, f"{alert}: missing {missing}"
    assert "```" in text, f"{alert}: no concrete command or SQL to run"
