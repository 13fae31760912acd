"""The code's defaults are params.yaml's values, so a project without params.yaml runs like this repository."""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel

from llm2slm.common.config import Config

PATH_KEYS = ("home", "store_dir", "data_dir")  # where a run writes: load_config turns them into Config.paths


def config_sections() -> dict[str, type[BaseModel]]:
    """Config's tunable sections: the fields that are settings models with a default (`paths` has none)."""
    return {name: field.annotation for name, field in Config.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
            and not field.is_required()}


@pytest.fixture(scope="module")
def params(repo_root) -> dict:
    values = yaml.safe_load((repo_root / "params.yaml").read_text())
    return {key: value for key, value in values.items() if key not in PATH_KEYS}


def test_params_yaml_holds_the_config_sections_and_nothing_else(params):
    sections = config_sections()
    assert sections, "Config has no sections: the test no longer finds them"
    assert sorted(set(sections) - set(params)) == [], "sections the code has and params.yaml lacks"
    assert sorted(set(params) - set(sections)) == [], "params.yaml sections the code does not know"


@pytest.mark.parametrize("section", sorted(config_sections()))
def test_section_defaults_equal_params_yaml(params, section):
    assert isinstance(params.get(section), dict), f"params.yaml has no `{section}:` section"
    defaults = config_sections()[section]().model_dump(mode="json")
    assert sorted(set(params[section]) - set(defaults)) == [], f"{section}: keys the code does not know"
    assert {key: defaults[key] for key in params[section]} == params[section]
