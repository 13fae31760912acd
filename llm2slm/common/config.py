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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from llm2slm.common.errors import describe_validation_error
from llm2slm.common.finetune_config import FinetuneConfig
from llm2slm.common.retrain_config import RetrainConfig


SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the llm2slm package and mlflow/


class ConfigError(ValueError):
    """The configuration is invalid; the message names the field and the problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


EntityType = Literal["PERSON", "NAME", "LOCATION", "ORGANIZATION", "STREET_ADDRESS", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN",
                     "IP_ADDRESS", "SSN", "URL", "DATE_OF_BIRTH", "API_KEY", "BEARER_TOKEN", "PASSWORD"]
ENTITY_TYPES: tuple[str, ...] = EntityType.__args__
Action = Literal["surrogate", "placeholder", "hash", "redact", "keep"]
ACTIONS: tuple[str, ...] = Action.__args__
# Public organisations, places and names that are not a private person's (NAME: public figures, brands, products;
# llm2slm/curation/persons.py) are kept; every other type (names of private persons, contact details, street
# addresses, card and account numbers, government ids, dates of birth, secrets) gets a surrogate.
# docs/curation.md has the table.
KEPT_BY_DEFAULT = ("NAME", "ORGANIZATION", "LOCATION")
DEFAULT_POLICY: dict[str, str] = {t: "keep" if t in KEPT_BY_DEFAULT else "surrogate" for t in ENTITY_TYPES}
# The types whose values, found in a call's system/developer messages or tool specifications, are the agent's
# configuration and kept everywhere in that call. Never numbers, ids, dates of birth or secrets.
AGENT_CONFIG_TYPES = ["PERSON", "NAME", "ORGANIZATION", "LOCATION", "STREET_ADDRESS", "EMAIL", "PHONE", "URL"]
DropReason = Literal["error", "specialist_answer", "empty_response", "truncated", "invalid_tool_spec",
                     "invalid_tool_call", "refusal"]


class CurateConfig(_Section):
    """S2 curation; docs/curation.md explains each field."""

    policy: dict[EntityType, Action] = Field(
        default_factory=lambda: dict(DEFAULT_POLICY),
        description="entity type -> action; a type left out is not looked for; {} turns scrubbing off")
    agent_config_types: list[EntityType] = Field(
        default_factory=lambda: list(AGENT_CONFIG_TYPES),
        description="types kept everywhere in a call when found in its system prompt or tool specifications")
    hash_salt_env: str = Field("LLM2SLM_SCRUB_SALT", description="environment variable with the secret (16+ chars) "
                               "that salts `hash` and keys `surrogate` (when unset, surrogates are keyed by `seed`)")
    min_score: float = Field(0.3, ge=0, le=1, description="recognizer results below this score are ignored")
    ner_model: str | None = Field(None, description="tagger weights (.npz); None: the packaged model")
    drop: list[DropReason] = list(DropReason.__args__)
    refusal_patterns: list[str] = Field(default_factory=lambda: [
        r"^(?:i'?m|i am) (?:sorry|afraid),? (?:but )?i (?:can(?:'|no)?t|cannot|am unable to|won't) "
        r"(?:help|assist|comply|provide|do that|fulfil)",
        r"^i (?:can(?:'|no)?t|cannot|won't) (?:help|assist|comply) with (?:that|this)",
        r"^as an ai(?: language model)?,? i (?:can(?:'|no)?t|cannot|am not able)",
        r"^(?:sorry|unfortunately),? (?:but )?i (?:can(?:'|no)?t|cannot) (?:help|assist|comply)"],
        description="case-insensitive regexes on the start of a text answer that mark a refusal")
    dedup: Literal["exact", "near", "none"] = "near"
    near_dup_threshold: float = Field(0.9, gt=0, le=1, description="Jaccard similarity of shingle sets, 0-1")
    shingle_chars: int = Field(5, ge=2, le=20, description="characters per shingle of the normalised text")
    minhash_permutations: int = Field(128, ge=16, le=1024)
    seed: int = Field(13, description="MinHash seed; also keys the surrogates when the secret variable is unset")
    audit_examples: int = Field(20, ge=0, description="before/after examples in the admin-only file")

    @model_validator(mode="before")
    @classmethod
    def _scrub_and_operator_became_the_policy(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("scrub" in data or "operator" in data):
            types = data.get("scrub", list(ENTITY_TYPES))
            action = data.get("operator", "placeholder")
            same = ", ".join(f"{t}: {action}" for t in types) if isinstance(types, list) else "..."
            message = ("`scrub` and `operator` were replaced by `policy` (entity type -> action, docs/curation.md); "
                       f"what they said is `policy: {{{same}}}`")
            raise PydanticCustomError("replaced_setting", "{message}", {"message": message})
        return data

    @field_validator("policy", mode="before")
    @classmethod
    def _known_types_and_actions(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # pydantic says it is not a mapping
        problems = []
        for entity, action in value.items():
            if entity not in ENTITY_TYPES:
                problems.append(f"unknown entity type {entity!r} (entity types: {', '.join(ENTITY_TYPES)})")
            elif action not in ACTIONS:
                problems.append(f"{entity}: unknown action {action!r} (actions: {', '.join(ACTIONS)})")
        if problems:
            raise PydanticCustomError("policy", "{problems}", {"problems": "; ".join(problems)})
        return value


class ClusterConfig(_Section):
    embedding_model: str = "all-MiniLM-L6-v2"
    max_chars: int = Field(600, ge=50)
    umap_components: int = Field(5, ge=2, le=50)
    umap_neighbors: int = Field(30, ge=2)
    min_cluster_fraction: float = Field(0.01, gt=0, lt=0.5)
    min_samples: int = Field(5, ge=1)
    keywords: int = Field(5, ge=1, le=20)
    seed: int = 13
    umap_fit_max: int = Field(25_000, ge=100, description="UMAP is fitted on at most this many calls")
    outlier_reach_quantile: float = Field(0.95, gt=0, le=1)
    outlier_budget: float = Field(0.05, ge=0, le=1, description="largest share of calls left as outliers")
    structure_threshold: float = Field(0.8, gt=0, le=1)
    id_match_similarity: float = Field(0.9, gt=0, le=1)
    assign_coverage: float = Field(0.99, gt=0.5, le=1)
    discover_max_calls: int = Field(50_000, ge=100, description="above this, tasks are discovered on a stable "
                                    "sample of this many calls and the others placed by the assigner")


class SplitConfig(_Section):
    val_fraction: float = Field(0.10, ge=0, lt=0.5, description="per-epoch validation, candidate screening and the "
                                "calibration of the deferral threshold")
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 13


class SelectConfig(_Section):
    catalogue: str = "llm2slm/catalogue.yaml"
    closed_label_max: int = Field(400, ge=2)
    closed_label_coverage: float = Field(0.98, gt=0, le=1)
    min_calls: int = Field(50, ge=1)
    top_k: int = Field(1, ge=1, description="candidates kept per task (each is fine-tuned and evaluated)")
    licences: list[str] = Field(default_factory=lambda: ["apache-2.0", "mit", "llama3.2"], min_length=1)
    memory_budget_mib: float = Field(16384, gt=0, description="weights at `precision` must fit, MiB")
    precision: Literal["bf16", "4bit"] = "bf16"
    span_share: float = Field(0.95, gt=0, le=1, description="json_spans: share of string values found verbatim")
    screen_calls: int = Field(40, ge=1, description="validation calls each candidate is screened on")
    screen_shots: int = Field(4, ge=1, description="encoder few-shot screen: training calls per label")
    screen_generators: bool = True
    screen_max_params: int = Field(1_000_000_000, ge=0, description="larger generators are not screened")
    screen_generator_calls: int = Field(8, ge=1, description="validation calls a generator is screened on at most")
    min_tool_set_reuse: float = Field(0.5, ge=0, le=1, description="a tool-calling task whose val calls offer a tool "
                                      "set seen in training less often than this needs a generalist (stays on the "
                                      "LLM unless a zero-shot screen reaches generalist_screen)")
    generalist_screen: float = Field(0.9, ge=0, le=1, description="the zero-shot screen a generator needs to take a "
                                     "task whose tools change from call to call")


class TokenPrice(_Section):
    prompt: float = Field(ge=0, description="USD per 1M prompt tokens")
    completion: float = Field(ge=0, description="USD per 1M completion tokens")


class EvaluateConfig(_Section):
    max_test_calls: int = Field(2000, ge=1, description="held-out test calls evaluated per task at most")
    latency_calls: int = Field(50, ge=1)
    max_generator_test_calls: int = Field(32, ge=1, description="held-out test calls a generator is evaluated on")
    llm_prices: dict[str, TokenPrice] = Field(
        default_factory=lambda: {"default": TokenPrice(prompt=2.5, completion=10.0),
                                 "gpt-4o-mini": TokenPrice(prompt=0.15, completion=0.6),
                                 "gpt-4o": TokenPrice(prompt=2.5, completion=10.0)},
        description="per LLM model name (longest matching prefix wins), plus 'default'")
    cpu_hour_usd: float = Field(0.05, ge=0, description="what one CPU core costs per hour, USD")

    @model_validator(mode="after")
    def _has_default_price(self) -> "EvaluateConfig":
        if "default" not in self.llm_prices:
            raise ValueError("llm_prices: needs a 'default' entry for models not listed")
        return self


class RegistryConfig(_Section):
    model_prefix: str = Field("llm2slm", pattern=r"^[A-Za-z0-9_.-]+$")
    policy: str = Field("mlflow/promotion_policy.yaml", description="the promotion gate, relative to the project")


class GatewayConfig(_Section):
    """The capture gateway (`llm2slm gateway`): an OpenAI-compatible proxy that records every call."""

    host: str = "127.0.0.1"
    port: int = Field(8787, ge=1, le=65535)
    upstream_base_url: str = Field("https://api.openai.com/v1", pattern=r"^https?://")
    upstream_api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the upstream key")
    upstream_timeout_s: float = Field(120.0, gt=0)
    upstream_client: Literal["aiohttp", "httpx"] = Field(
        "aiohttp", description="HTTP client to the upstream: aiohttp (cheaper per call) or httpx (the previous one)")
    keep_alive_s: float = Field(75.0, gt=0, description="idle agent connections are kept open this long, seconds")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest request body accepted, bytes")
    queue_size: int = Field(10000, ge=1, description="records waiting for the writer at most")
    batch_size: int = Field(256, ge=1, description="records committed to the store in one write at most")
    commit_linger_ms: float = Field(0.0, ge=0, le=1000, description="a commit waits this long for more records, ms")
    fail_open: bool = Field(False, description="answer even when the record could not be stored")
    extra_request_keys: list[str] = Field(default_factory=list, description="request keys accepted beyond OpenAI's")


class CaptureConfig(_Section):
    """The encrypted call store and the API keys (docs/capture-store.md)."""

    master_key_env: str = Field("LLM2SLM_MASTER_KEY", description="environment variable holding the master key")
    master_key_file: Path | None = Field(None, description="read when the variable is unset; default "
                                                           "<home>/keys/master.key")
    keyring: Path | None = Field(None, description="hashed API keys; default <home>/keys/keyring.json")
    api_key_env: str = Field("LLM2SLM_API_KEY", description="environment variable holding the caller's API key")
    local_keys: bool = Field(True, description="create a missing master key and pipeline curator key (local use)")
    segment_max_bytes: int = Field(64 * 1024 * 1024, ge=4096,
                                   description="a writer starts a new segment past this size, bytes")


class Paths(_Section):
    """Where a run writes. Everything defaults to folders under `home`, itself inside the project folder."""

    project: Path
    home: Path
    data_dir: Path
    store: Path
    dvc_versioned: bool = Field(True, description="the home is the one params.yaml names, which dvc.yaml's paths "
                                                  "use: DVC can version the datasets")

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def prefect_ui(self) -> Path:
        """Where a Prefect server with its UI (`llm2slm ui`) copies the UI (by default it writes into site-packages)."""
        return self.prefect_home / "ui"

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


class Config(_Section):
    paths: Paths
    mlflow_tracking_uri: str
    ray_address: str | None = Field(None, description="a Ray cluster to train on ($RAY_ADDRESS); None: Ray in process")
    prefect_api_url: str | None = Field(None, description="a Prefect server ($PREFECT_API_URL); None: a local one")
    curate: CurateConfig = CurateConfig()
    cluster: ClusterConfig = ClusterConfig()
    split: SplitConfig = SplitConfig()
    select: SelectConfig = SelectConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    registry: RegistryConfig = RegistryConfig()
    gateway: GatewayConfig = GatewayConfig()
    capture: CaptureConfig = CaptureConfig()
    route: "RouteConfig" = Field(default_factory=lambda: RouteConfig())
    retrain: RetrainConfig = RetrainConfig()

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

    def _project_file(self, value: str, shipped: Path) -> Path:
        """`value` as given when absolute, else in the project when it is there, else the file llm2slm ships."""
        path = Path(value)
        if path.is_absolute():
            return path
        return self.paths.project / path if (self.paths.project / path).exists() else shipped

    def policy_path(self) -> Path:
        return self._project_file(self.registry.policy, SOURCE_ROOT / self.registry.policy)

    def catalogue_path(self) -> Path:
        return self._project_file(self.select.catalogue, SOURCE_ROOT / "llm2slm" / "catalogue.yaml")


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


DEFAULT_HOME = ".llm2slm"


def _project_path(base: Path, value: str | None, default: Path) -> Path:
    """`value` as a path relative to `base` (absolute paths as they are); `default` when unset."""
    path = Path(value) if value else default
    return path if path.is_absolute() else (base / path).resolve()


def load_config(
    project_dir: Path | str | None = None,
    home: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Build and validate the configuration. Raises ConfigError naming the offending field."""
    project = Path(project_dir).resolve() if project_dir else find_project_dir()
    if not project.is_dir():  # a mistyped --project, or a deployment's `project_dir` left a template
        raise ConfigError(f"the project folder {project} does not exist")
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

    params_home = params.pop("home", DEFAULT_HOME)
    dvc_home = _project_path(project, params_home, project / DEFAULT_HOME)
    home_path = _project_path(project, str(home or os.environ.get("LLM2SLM_HOME") or params_home), dvc_home)
    data_dir = _project_path(home_path, params.pop("data_dir", None), home_path / "data")
    store = _project_path(home_path, params.pop("store_dir", None), home_path / "store")
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home_path / 'mlflow' / 'mlflow.db'}"
    tree = {
        "paths": {"project": project, "home": home_path, "data_dir": data_dir, "store": store,
                  "dvc_versioned": home_path == dvc_home},
        "mlflow_tracking_uri": tracking,
        "ray_address": os.environ.get("RAY_ADDRESS") or None,
        "prefect_api_url": os.environ.get("PREFECT_API_URL") or None,
        **params,
    }
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration ({params_file}): {describe_validation_error(exc)}") from exc


class RouteConfig(_Section):
    """Which calls a specialist answers itself (calibrated deferral, docs/specialists.md); the LLM answers the rest."""

    target_agreement: float = Field(0.98, gt=0, le=1, description="agreement with the LLM that the calls a "
                                    "specialist answers must reach, on all of them and on those whose answer is not "
                                    "the task's most frequent one; its confidence threshold is calibrated to it on "
                                    "the validation split")
    min_calibration_calls: int = Field(50, ge=1, description="a threshold must cover at least this many validation "
                                       "calls: at 50 a single disagreement moves agreement by 2 points")
    calibration_z: float = Field(1.0, ge=0, le=4, description="the target is read on the Wilson lower bound this many "
                                 "standard errors below the measured agreement (0: on the point estimate)")
    enabled: bool = Field(True, description="false: the gateway only captures, every call goes to the LLM")
    refresh_s: float = Field(5.0, gt=0, description="seconds between reads of the registry (modes, champions)")
    time_budget_ms: float = Field(500.0, gt=0, description="a specialist slower than this on a call falls back, ms")
    max_batch: int = Field(32, ge=1, description="calls of one specialist answered in one forward pass at most")
    shadow_queue: int = Field(1000, ge=1, description="shadow comparisons waiting at most (more are dropped)")


Config.model_rebuild()
