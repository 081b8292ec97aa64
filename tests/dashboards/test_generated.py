"""dashboards/*.json are generated, schema-valid, and say what they are."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from dashgen.render import SPECS

from .promql import REPO, dashboards

SCHEMA = json.loads((Path(__file__).parent / "schema" / "dashboard.jsonschema.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def test_committed_dashboards_and_docs_are_what_the_generator_writes() -> None:
    """As for the rules: edit dashgen/, run `dbhealth-dashboards generate`, commit both."""
    result = subprocess.run([sys.executable, "-m", "dashgen", "check"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]


def test_check_fails_on_a_hand_edit(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "dashgen", "generate", "--root", str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    board = tmp_path / "dashboards" / "overview.json"
    board.write_text(board.read_text().replace("DBHealth / Overview", "Edited by hand"))
    result = subprocess.run([sys.executable, "-m", "dashgen", "check", "--root", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Edited by hand" in result.stderr


def test_the_four_dashboards_of_the_issue() -> None:
    titles = {board["title"] for board in dashboards().values()}
    assert titles == {"DBHealth / Overview", "DBHealth / Queries", "DBHealth / Backups",
                      "DBHealth / Alerting pipeline"}
    assert len({spec.uid for spec in SPECS}) == len(SPECS)


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_dashboard_is_valid_against_the_grafana_schema(name: str) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in VALIDATOR.iter_errors(dashboards()[name])]
    assert errors == []


def test_the_schema_rejects_what_grafana_would_not_load() -> None:
    """The gate is real: unknown keys and wrong types fail (additionalProperties: false)."""
    board = copy.deepcopy(dashboards()["overview.json"])
    board["__inputs"] = [{"name": "DS_PROMETHEUS"}]
    board["panels"][1]["gridPos"]["w"] = "wide"
    messages = [e.message for e in VALIDATOR.iter_errors(board)]
    assert any("__inputs" in m for m in messages) and any("'wide'" in m for m in messages), messages
