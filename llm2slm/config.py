"""One validated configuration tree for llm2slm, built by `load_config` (never at import time).

Sources, later ones winning: the defaults below, `params.yaml` in the project folder (the tunables shared with
dvc.yaml), then environment variables for the deployment-specific parts (LLM2SLM_HOME, MLFLOW_TRACKING_URI,
RAY_ADDRESS, PREFECT_API_URL), then explicit overrides passed by the caller.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """The configuration is invalid; the message names the field and the problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CurateConfig(_Section):
    scrub: list[Literal["EMAIL", "PHONE", "CREDIT_CARD"]] = ["EMAIL", "PHONE", "CREDIT_CARD"]
    drop_failed: bool = True
    dedup: Literal["exact", "none"] = "exact"


class ClusterConfig(_Section):
    embedding_model: str = "all-MiniLM-L6-v2"
    max_chars: int = Field(600, ge=50)
    umap_components: int = Field(5, ge=2, le=50)
    umap_neighbors: int = Field(30, ge=2)
    min_cluster_fraction: float = Field(0.01, gt=0, lt=0.5)
    min_samples: int = Field(5, ge=1)
    keywords: int = Field(5, ge=1, le=20)
    seed: int = 13


class SplitConfig(_Section):
    val_fraction: float = Field(0.15, ge=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 13


class SelectConfig(_Section):
    catalogue: str = "llm2slm/catalogue.yaml"
    closed_label_max: int = Field(400, ge=2)
    closed_label_coverage: float = Field(0.98, gt=0, le=1)
    min_calls: int = Field(50, ge=1)


class FinetuneConfig(_Section):
    num_workers: int = Field(2, ge=1)
    use_gpu: bool = False
    max_train_calls: int = Field(6000, ge=1)
    epochs: int | None = Field(None, ge=1, description="overrides the recipe's epochs for every task")
    seed: int = 13


class EvaluateConfig(_Section):
    max_test_calls: int = Field(400, ge=1)
    latency_calls: int = Field(50, ge=1)


class RegistryConfig(_Section):
    champion_min_agreement: float = Field(0.85, ge=0, le=1)
    model_prefix: str = Field("llm2slm", pattern=r"^[A-Za-z0-9_.-]+$")


class Paths(_Section):
    """Where a run writes. Everything defaults to folders under `home`, itself inside the project folder."""

    project: Path
    home: Path
    data_dir: Path
    store: Path

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def ray_dir(self) -> Path:
        return self.home / "ray"

    @property
    def dvc_cache(self) -> Path:
        return self.home / "dvc" / "cache"

    @property
    def dvc_remote(self) -> Path:
        return self.home / "dvc" / "remote"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


class Config(_Section):
    paths: Paths
    mlflow_tracking_uri: str
    ray_address: str | None = None
    curate: CurateConfig = CurateConfig()
    cluster: ClusterConfig = ClusterConfig()
    split: SplitConfig = SplitConfig()
    select: SelectConfig = SelectConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    registry: RegistryConfig = RegistryConfig()

    @model_validator(mode="after")
    def _splits_leave_training_data(self) -> "Config":
        if self.split.val_fraction + self.split.test_fraction >= 0.8:
            raise ValueError("split.val_fraction + split.test_fraction must leave at least 20% for training")
        return self

    def artifact_root(self) -> str | None:
        """Where MLflow puts artifacts of experiments we create: under home for a local store, else the server's."""
        if self.mlflow_tracking_uri.startswith(("sqlite:", "file:")) or "://" not in self.mlflow_tracking_uri:
            return (self.paths.mlflow_dir / "artifacts").as_uri()
        return None

    def catalogue_path(self) -> Path:
        path = Path(self.select.catalogue)
        if path.is_absolute():
            return path
        in_project = self.paths.project / path
        if in_project.exists():
            return in_project
        return Path(__file__).resolve().parent / "catalogue.yaml"


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` that holds params.yaml; `start` itself when there is none."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "params.yaml").is_file():
            return folder
    return start


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _project_path(project: Path, value: str | None, default: Path) -> Path:
    path = Path(value) if value else default
    return path if path.is_absolute() else (project / path).resolve()


def load_config(
    project_dir: Path | str | None = None,
    home: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Build and validate the configuration. Raises ConfigError naming the offending field."""
    project = Path(project_dir).resolve() if project_dir else find_project_dir()
    params_file = project / "params.yaml"
    params: dict[str, Any] = {}
    if params_file.is_file():
        try:
            params = yaml.safe_load(params_file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{params_file}: not valid YAML: {exc}") from exc
        if not isinstance(params, dict):
            raise ConfigError(f"{params_file}: expected a mapping at the top level")
    params = _deep_merge(params, overrides or {})

    home_path = Path(home or os.environ.get("LLM2SLM_HOME") or project / ".llm2slm")
    home_path = (project / home_path).resolve() if not home_path.is_absolute() else home_path
    data_dir = _project_path(project, params.pop("data_dir", None), home_path / "data")
    store = _project_path(project, params.pop("store_dir", None), home_path / "store")
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home_path / 'mlflow' / 'mlflow.db'}"
    tree = {
        "paths": {"project": project, "home": home_path, "data_dir": data_dir, "store": store},
        "mlflow_tracking_uri": tracking,
        "ray_address": os.environ.get("RAY_ADDRESS") or None,
        **params,
    }
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid configuration ({params_file}): {problems}") from exc
