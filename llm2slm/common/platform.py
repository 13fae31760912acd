"""The one-machine platform (`llm2slm platform start|stop|status`, `make platform`): what it runs and where it
records it. Pure parts only: the commands, their environments, the URLs and the record file; the CLI
(`llm2slm.cli.platform`) starts and stops the processes.

Everything the platform writes lies under `<home>/platform/`: the Prefect server's PREFECT_HOME (its SQLite
database and its copy of the UI), the MLflow server's SQLite database and served artifacts, one log file per
process, and `platform.json`, the record of what runs (process ids, which lead their own process groups, and URLs).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llm2slm.common.config import Config

HOST = "127.0.0.1"
POOL = "llm2slm"  # the work pool infra/prefect.yaml names
PREFECT_FILE = Path("infra") / "prefect.yaml"  # relative to the code folder
DEFAULT_PORTS = {"prefect": 4200, "mlflow": 5000, "gateway": 8787}  # the gateway's default is gateway.port
PORT_ENV = {"prefect": "LLM2SLM_PLATFORM_PREFECT_PORT", "mlflow": "LLM2SLM_PLATFORM_MLFLOW_PORT",
            "gateway": "LLM2SLM_PLATFORM_GATEWAY_PORT"}
MLFLOW_WORKERS = 1  # uvicorn worker processes of the MLflow server (its default, 4, costs ~1 GB)


@dataclass(frozen=True)
class Layout:
    """Where the platform of one home writes."""

    root: Path

    @classmethod
    def of(cls, cfg: Config) -> "Layout":
        return cls(cfg.paths.home / "platform")

    @property
    def record(self) -> Path:
        return self.root / "platform.json"

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def prefect_ui(self) -> Path:
        """Where the Prefect server writes its copy of the UI (by default it writes into site-packages)."""
        return self.root / "prefect" / "ui"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow" / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.root / "mlflow" / "artifacts"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


@dataclass(frozen=True)
class Ports:
    prefect: int
    mlflow: int
    gateway: int

    @property
    def prefect_url(self) -> str:
        return f"http://{HOST}:{self.prefect}"

    @property
    def prefect_api(self) -> str:
        return f"{self.prefect_url}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://{HOST}:{self.mlflow}"

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway}"


def resolve_ports(given: dict[str, int | None], gateway_default: int,
                  env: dict[str, str] | None = None) -> Ports:
    """Each port from its option, else its environment variable (PORT_ENV), else its default. Raises
    ValueError naming a variable that is not a port number, or two services given one port."""
    env = os.environ if env is None else env
    defaults = {**DEFAULT_PORTS, "gateway": gateway_default}
    chosen: dict[str, int] = {}
    for name, default in defaults.items():
        value: int | str | None = given.get(name) or env.get(PORT_ENV[name]) or default
        try:
            port = int(value)
        except ValueError:
            raise ValueError(f"${PORT_ENV[name]}={value!r} is not a port number") from None
        if not 1 <= port <= 65535:
            raise ValueError(f"the {name} port {port} is not between 1 and 65535")
        chosen[name] = port
    if len(set(chosen.values())) < len(chosen):
        raise ValueError(f"two services were given one port: {chosen}")
    return Ports(**chosen)


def _bin(name: str) -> str:
    """An executable of this interpreter's environment (prefect, mlflow, llm2slm)."""
    return str(Path(sys.executable).with_name(name))


@dataclass(frozen=True)
class Service:
    """One long-running process of the platform: its command, what it adds to the environment, and the URL
    that answers 200 once it is ready (None: readiness is checked another way)."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    url: str
    health: str | None


def services(cfg: Config, layout: Layout, ports: Ports, code_dir: Path) -> list[Service]:
    """The servers, then the worker (which needs the Prefect server and its pool first)."""
    prefect_env = {"PREFECT_HOME": str(layout.prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = Service("prefect-server", [_bin("prefect"), "server", "start", "--host", HOST, "--port",
                                         str(ports.prefect)],
                      {**prefect_env, "PREFECT_API_URL": ports.prefect_api,
                       "PREFECT_UI_STATIC_DIRECTORY": str(layout.prefect_ui)}, ports.prefect_url,
                      f"{ports.prefect_api}/health")
    mlflow = Service("mlflow-server", [_bin("mlflow"), "server", "--host", HOST, "--port", str(ports.mlflow),
                                       "--workers", str(MLFLOW_WORKERS), "--backend-store-uri",
                                       f"sqlite:///{layout.mlflow_db}", "--serve-artifacts",
                                       "--artifacts-destination", str(layout.mlflow_artifacts)],
                     {}, ports.mlflow_url, f"{ports.mlflow_url}/health")
    gateway = Service("gateway", [_bin("llm2slm"), "gateway", "--host", HOST, "--port", str(ports.gateway),
                                  "--project", str(cfg.paths.project), "--home", str(cfg.paths.home)],
                      {"MLFLOW_TRACKING_URI": ports.mlflow_url}, ports.gateway_url, f"{ports.gateway_url}/healthz")
    worker = Service("prefect-worker", [_bin("prefect"), "worker", "start", "--pool", POOL, "--type", "process",
                                        "--name", f"{POOL}-local"],
                     worker_env(cfg, layout, ports, code_dir), ports.prefect_url, None)
    return [prefect, mlflow, gateway, worker]


def worker_env(cfg: Config, layout: Layout, ports: Ports, code_dir: Path) -> dict[str, str]:
    """What the worker, and so every flow run it starts, sees (and `prefect deploy`, which runs with it): the
    Prefect and MLflow servers; the code folder as LLM2SLM_CODE_DIR (the deployments' pull step makes it the
    working directory of a flow run, where their entrypoints `flows/...` resolve) and on PYTHONPATH (`flows/` and
    `tasks/` are top-level packages of the repository); the project as LLM2SLM_PROJECT (`prefect deploy` writes
    it into the deployments' `project_dir` parameter) and its home."""
    path = os.environ.get("PYTHONPATH")
    return {"PREFECT_HOME": str(layout.prefect_home), "PREFECT_API_URL": ports.prefect_api,
            "MLFLOW_TRACKING_URI": ports.mlflow_url, "LLM2SLM_CODE_DIR": str(code_dir),
            "LLM2SLM_PROJECT": str(cfg.paths.project), "LLM2SLM_HOME": str(cfg.paths.home),
            "PYTHONPATH": os.pathsep.join([str(code_dir), *([path] if path else [])])}


def pool_command() -> list[str]:
    return [_bin("prefect"), "work-pool", "create", POOL, "--type", "process", "--overwrite"]


def deploy_command(code_dir: Path) -> list[str]:
    """Registers every deployment of infra/prefect.yaml (run in the code folder: entrypoints are relative)."""
    return [_bin("prefect"), "--no-prompt", "deploy", "--prefect-file", str(code_dir / PREFECT_FILE), "--all"]


def code_folder(project: Path, package_file: str) -> Path:
    """The folder holding the flows and infra/prefect.yaml: the project when it has them (a checkout of this
    repository), else the checkout this package was installed from. Raises ValueError when neither has them."""
    for folder in (project, Path(package_file).resolve().parents[1]):
        if (folder / PREFECT_FILE).is_file() and (folder / "flows").is_dir():
            return folder
    raise ValueError(f"neither {project} nor the llm2slm checkout holds {PREFECT_FILE} and flows/: "
                     "run the platform from a checkout of the repository")


@dataclass
class Running:
    """One recorded process: `pid` leads its own process group (stop signals the group)."""

    name: str
    pid: int
    url: str
    log: str


@dataclass
class Record:
    processes: list[Running] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)

    def urls(self) -> dict[str, str]:
        return {p.name: p.url for p in self.processes}


def write_record(path: Path, record: Record) -> None:
    """Write atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    tmp.replace(path)


def read_record(path: Path) -> Record | None:
    """The record, None when there is none. Raises ValueError naming a file that is not a record."""
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        return Record([Running(**p) for p in raw["processes"]], list(raw.get("deployments", [])))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a platform record ({exc}); remove it once its processes are stopped") \
            from exc

