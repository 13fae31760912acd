"""The gateway's live routes: per task, its mode and share, and its champion loaded and ready.

The registry is the one source of truth: each task's mode and share are tags of its registered model, its
champion is the version the `champion` alias names, its calibrated confidence threshold a tag of that version.
`RouteTable.refresh` reads them and builds a new table; a champion that moved is downloaded and loaded first (in
the refresher's thread, off the request path), then the whole table is replaced in one assignment. A call reads
the table once, so a call in flight finishes on the version it started with. When the registry cannot be read or
a new version cannot be loaded, the last good routes stay in place and the gateway keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger("llm2slm.serving.routes")

Loader = Callable[[str, str, str, Path], Any]  # (tracking URI, model name, version, cache folder) -> Specialist


@dataclass(frozen=True)
class LiveRoute:
    task_id: str
    name: str  # registered model
    mode: str  # off | shadow | canary | on
    share: float  # of the task's calls the specialist is asked to answer (canary; 1 for on)
    version: str
    threshold: float | None  # calibrated confidence threshold; None: not calibrated, the specialist answers nothing
    shape: str
    specialist: Any

    @property
    def model_label(self) -> str:
        return f"{self.name}/{self.version}"


def specialist_folder(root: Path) -> Path:
    """The folder holding `specialist.json` inside a downloaded MLflow model."""
    found = sorted(Path(root).rglob("specialist.json"))
    if not found:
        raise FileNotFoundError(f"no specialist.json under the downloaded model {root}")
    return found[0].parent


def load_registered(tracking_uri: str, name: str, version: str, cache: Path) -> Any:
    """Download a model version's files once into `cache/<name>/<version>` and load its specialist."""
    import mlflow

    from llm2slm.serving.specialist import Specialist

    target = Path(cache) / name / str(version)
    if not (target / ".complete").exists():
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(target),
                                            tracking_uri=tracking_uri)
        (target / ".complete").write_text("ok\n")
    return Specialist.load(specialist_folder(target))


class RouteTable:
    def __init__(self, tracking_uri: str, prefix: str, cache: Path, refresh_s: float,
                 loader: Loader = load_registered):
        self.tracking_uri, self.prefix, self.cache = tracking_uri, prefix, Path(cache)
        self.refresh_s, self.loader = refresh_s, loader
        self.routes: dict[str, LiveRoute] = {}  # replaced whole, never changed in place
        self.errors = 0  # refreshes that failed (registry unreachable or a load that failed)
        self.refreshes = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.on_refresh: Callable[[], None] | None = None  # run after each refresh (the router reloads its placer)

    def live_tasks(self) -> set[str]:
        return {t for t, r in self.routes.items() if r.mode != "off"}

    def refresh(self) -> bool:
        """Read the registry and swap in the new table; False (and the old table kept) when it cannot."""
        with self._lock:
            try:
                self.routes = self._read()
            except Exception as exc:  # noqa: BLE001 - any registry or load failure keeps the last good routes
                self.errors += 1
                message = f"{type(exc).__name__}: {str(exc)[:300]}"
                if message != self.last_error:
                    log.warning("routes not refreshed, the last good ones stay: %s", message)
                self.last_error = message
                return False
            self.refreshes += 1
            self.last_error = None
            return True

    def _read(self) -> dict[str, LiveRoute]:
        from llm2slm.registry.routing import route_settings
        from llm2slm.registry.versions import SHAPE_TAG, registry_client, route_threshold

        client = registry_client(self.tracking_uri)
        table: dict[str, LiveRoute] = {}
        for task, setting in route_settings(client, self.prefix).items():
            if setting.mode == "off" or setting.champion is None:
                continue
            current = self.routes.get(task)
            if current is not None and current.version == setting.champion:
                table[task] = replace(current, mode=setting.mode, share=setting.share)
                continue
            version = client.get_model_version(setting.name, setting.champion)
            specialist = self.loader(self.tracking_uri, setting.name, setting.champion, self.cache)
            table[task] = LiveRoute(task_id=task, name=setting.name, mode=setting.mode, share=setting.share,
                                    version=setting.champion, threshold=route_threshold(version),
                                    shape=(version.tags or {}).get(SHAPE_TAG, "closed_label"),
                                    specialist=specialist)
            log.info("route %s: %s version %s loaded (%s, threshold %s)", task, setting.name, setting.champion,
                     setting.mode, table[task].threshold)
        return table

    # ---- the background refresher ----
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="llm2slm-routes", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            if self.on_refresh is not None:
                try:
                    self.on_refresh()
                except Exception as exc:  # noqa: BLE001 - a bad new assigner keeps the old one
                    log.warning("the assigner was not reloaded: %s", exc)
            self._stop.wait(self.refresh_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def view(self) -> dict[str, dict[str, Any]]:
        """What /healthz shows of the routes."""
        return {t: {"mode": r.mode, "share": r.share, "model": r.name, "version": r.version,
                    "threshold": r.threshold} for t, r in sorted(self.routes.items())}
