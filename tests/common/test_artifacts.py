"""The artifact catalogue is the one list of stage outputs: dvc.yaml names exactly its files, with its flags."""

from __future__ import annotations

import pytest
import yaml

from llm2slm.common.artifacts import ARTIFACTS, DATA_STAGES, STAGE_INPUTS, ArtifactError, Artifacts, stage_outputs
from llm2slm.common.config import load_config


def _render(path: str, params: dict) -> str:
    for key in ("home", "store_dir", "data_dir"):
        path = path.replace("${" + key + "}", str(params[key]))
    return path


def _entries(items: list) -> dict[str, dict]:
    """dvc.yaml's list of paths (each a string or {path: options}) as {path: options}."""
    out = {}
    for item in items:
        if isinstance(item, dict):
            (path, options), = item.items()
            out[path] = options or {}
        else:
            out[item] = {}
    return out


@pytest.fixture(scope="module")
def dvc(repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    art = Artifacts(load_config(repo_root).paths)
    relative = {a.key: str(art.path(a.key).relative_to(repo_root)) for a in ARTIFACTS}
    return params, stages, relative


def test_dvc_yaml_has_exactly_the_catalogues_stages(dvc):
    _, stages, _ = dvc
    assert tuple(stages) == DATA_STAGES


@pytest.mark.parametrize("stage", DATA_STAGES)
def test_every_dvc_path_comes_from_the_catalogue_and_every_output_is_tracked(dvc, stage):
    params, stages, relative = dvc
    deps = {_render(p, params) for p in _entries(stages[stage].get("deps", []))}
    assert deps == {relative[key] for key in STAGE_INPUTS[stage]}
    outs = {_render(p, params): o for p, o in _entries(stages[stage].get("outs", [])).items()}
    metrics = {_render(p, params): o for p, o in _entries(stages[stage].get("metrics", [])).items()}
    for artifact in stage_outputs(stage):
        path = relative[artifact.key]
        if artifact.metric:
            assert path in metrics and metrics[path].get("cache") is False, artifact.key
        else:
            assert path in outs, artifact.key
            assert bool(outs[path].get("persist")) == artifact.persist, artifact.key
    assert set(outs) | set(metrics) == {relative[a.key] for a in stage_outputs(stage)}


def test_paths_follow_the_home_and_unknown_or_missing_artefacts_are_errors(tmp_path):
    cfg = load_config(tmp_path, home=tmp_path / "elsewhere")
    art = Artifacts(cfg.paths)
    assert art.curated == tmp_path / "elsewhere" / "data" / "curated.parquet"
    assert art.store == tmp_path / "elsewhere" / "store"
    assert not cfg.paths.dvc_versioned
    with pytest.raises(ArtifactError, match="names no 'curatd'"):
        art.curatd
    with pytest.raises(ArtifactError, match="unknown stage 'train'"):
        stage_outputs("train")
    with pytest.raises(ArtifactError, match="did not write .*catalogue.json"):
        art.logged("cluster")
    art.curate_audit.parent.mkdir(parents=True)
    art.curate_audit.write_text("{}")
    assert art.logged("curate") == [art.curate_audit]
