"""The layering shared by the exporter and the backup verifier, on a model of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from settings_layers import EnvLayout, SettingsProblems, env_overrides, load_layered, merge
from settings_layers.fields import IanaTimeZone

LAYOUT = EnvLayout(prefix="T_", config_env="T_CONFIG", aliases={"T_URL": ("db", "url")},
                   ignored=frozenset({"T_WORKERS"}))


class Db(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = "postgresql:///a"
    timeout: float = Field(5.0, gt=0)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    db: Db = Db()
    names: list[str] = []


def load(tmp_path: Path, yaml_text: str | None = None, environ: dict[str, str] | None = None,
         overrides: dict[str, object] | None = None) -> Model:
    config = None
    if yaml_text is not None:
        config = tmp_path / "s.yml"
        config.write_text(yaml_text)
    return load_layered(Model, LAYOUT, config_file=config, environ=environ or {}, overrides=overrides)


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    assert load(tmp_path).db.timeout == 5.0
    assert load(tmp_path, "db: {timeout: 2, url: 'postgresql:///y'}").db.timeout == 2.0
    from_env = load(tmp_path, "db: {timeout: 2, url: 'postgresql:///y'}", {"T_DB__TIMEOUT": "3"})
    assert (from_env.db.timeout, from_env.db.url) == (3.0, "postgresql:///y")  # merged, not replaced
    flagged = load(tmp_path, "db: {timeout: 2}", {"T_DB__TIMEOUT": "3"}, {"db": {"timeout": 4}})
    assert flagged.db.timeout == 4.0


def test_environment_aliases_json_values_and_names_left_to_others() -> None:
    tree, problems = env_overrides({"T_URL": "postgresql:///z", "T_NAMES": '["a"]',
                                    "T_DB__TIMEOUT": "[not json", "T_WORKERS": "4",
                                    "T_CONFIG": "/x.yml", "OTHER_DB__URL": "ignored"}, LAYOUT)
    assert tree == {"db": {"url": "postgresql:///z", "timeout": "[not json"}}
    assert problems == ["T_NAMES: unknown environment variable (use T_SECTION__KEY)"]
    tree, problems = env_overrides({"T_X__NAMES": '["a", "b"]'}, LAYOUT)
    assert tree == {"x": {"names": ["a", "b"]}} and problems == []


def test_every_problem_is_reported_at_once_naming_its_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsProblems) as caught:
        load(tmp_path, "db: {timeout: 0}\nbogus: 1\n", {"T_TYPO": "1", "T_DB__URL": "x"})
    assert caught.value.problems == [
        "T_TYPO: unknown environment variable (use T_SECTION__KEY)",
        "db.timeout: Input should be greater than 0",
        "bogus: Extra inputs are not permitted",
    ]


@pytest.mark.parametrize(("text", "reason"), [
    ("db: [unclosed", "is not valid YAML"),
    ("- a list\n", "must hold a mapping at the top level"),
])
def test_a_bad_file_is_a_problem_of_config_file(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(SettingsProblems) as caught:
        load(tmp_path, text)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("config.file: ") and reason in caught.value.problems[0]


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsProblems) as caught:
        load_layered(Model, LAYOUT, config_file=tmp_path / "absent.yml", environ={}, overrides=None)
    assert caught.value.problems == [f"config.file: cannot read {tmp_path / 'absent.yml'}: "
                                     "No such file or directory"]


def test_the_file_may_come_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "e.yml").write_text("names: [x]\n")
    settings = load_layered(Model, LAYOUT, config_file=None,
                            environ={"T_CONFIG": str(tmp_path / "e.yml")}, overrides=None)
    assert settings.names == ["x"]


def test_merge_keeps_base_untouched() -> None:
    base = {"a": {"b": 1, "c": 2}, "d": 1}
    assert merge(base, {"a": {"b": 3}, "d": {"e": 1}}) == {"a": {"b": 3, "c": 2}, "d": {"e": 1}}
    assert base == {"a": {"b": 1, "c": 2}, "d": 1}


class Zoned(BaseModel):
    timezone: IanaTimeZone = "Europe/London"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "", "Europe/London\x00"])
def test_a_time_zone_must_be_an_iana_key(zone: str) -> None:
    with pytest.raises(SettingsProblems) as caught:
        load_layered(Zoned, LAYOUT, config_file=None, environ={}, overrides={"timezone": zone})
    assert caught.value.problems == [f"timezone: unknown IANA time zone {zone!r}"]
    assert load_layered(Zoned, LAYOUT, config_file=None, environ={},
                        overrides={"timezone": "America/New_York"}).timezone == "America/New_York"


def test_a_huge_time_zone_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsProblems) as caught:
        load_layered(Zoned, LAYOUT, config_file=None, environ={}, overrides={"timezone": "E" * 100_000})
    [problem] = caught.value.problems
    assert problem.startswith("timezone: unknown IANA time zone 'EEEE") and len(problem) < 120


@pytest.mark.parametrize("text", ['db:\n  url: "postgresql://u:s3cret@h/d\n  timeout: [',
                                  'db: {}\n  url: postgresql://u:s3cret@h/d: x\n'])
def test_a_yaml_error_names_the_place_not_the_line(tmp_path: Path, text: str) -> None:
    with pytest.raises(SettingsProblems) as caught:
        load(tmp_path, text)
    [problem] = caught.value.problems
    assert "s3cret" not in problem and "postgresql" not in problem
    assert " at line " in problem and ", column " in problem
