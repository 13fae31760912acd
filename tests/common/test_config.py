import pytest

from llm2slm.common.config import ConfigError, load_config


def test_defaults_put_everything_under_the_project_home(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri in other tests sets it
    (tmp_path / "params.yaml").write_text("curate:\n  dedup: none\n")
    cfg = load_config(tmp_path)
    assert cfg.paths.home == tmp_path / ".llm2slm"
    assert cfg.paths.store.is_relative_to(tmp_path) and cfg.paths.data_dir.is_relative_to(tmp_path)
    assert cfg.mlflow_tracking_uri == f"sqlite:///{tmp_path / '.llm2slm' / 'mlflow' / 'mlflow.db'}"
    assert cfg.curate.dedup == "none"
    assert cfg.artifact_root().startswith("file://")


def test_the_repository_params_file_is_valid(repo_root):
    cfg = load_config(repo_root)
    assert cfg.catalogue_path().is_file()


def test_bad_values_name_the_field(tmp_path):
    (tmp_path / "params.yaml").write_text("cluster:\n  umap_components: 1\n")
    with pytest.raises(ConfigError, match="cluster.umap_components"):
        load_config(tmp_path)


def test_unknown_keys_and_bad_yaml_are_errors(tmp_path):
    (tmp_path / "params.yaml").write_text("curate:\n  scrubb: [EMAIL]\n")
    with pytest.raises(ConfigError, match="curate.scrubb"):
        load_config(tmp_path)
    (tmp_path / "params.yaml").write_text("curate: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path)


def test_a_project_folder_that_does_not_exist_is_an_error(tmp_path):
    """A mistyped --project, or a deployment's `project_dir` that `prefect deploy` left a template."""
    with pytest.raises(ConfigError, match=r"the project folder .*\{\{ \$LLM2SLM_PROJECT \}\} does not exist"):
        load_config(tmp_path / "{{ $LLM2SLM_PROJECT }}")


def test_splits_must_leave_training_data(tmp_path):
    (tmp_path / "params.yaml").write_text("split:\n  val_fraction: 0.45\n  test_fraction: 0.45\n")
    with pytest.raises(ConfigError, match="20%"):
        load_config(tmp_path)


def test_deployment_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect:4200/api")
    cfg = load_config(tmp_path)
    assert (cfg.ray_address, cfg.prefect_api_url) == ("ray://head:10001", "http://prefect:4200/api")
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.delenv("PREFECT_API_URL")
    assert (load_config(tmp_path).ray_address, load_config(tmp_path).prefect_api_url) == (None, None)
