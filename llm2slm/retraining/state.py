"""What the retrain flow remembers between runs (`runs/retrain/state.json` under the home, no call text): the
watermark (where the next window starts), each task's size when its specialist was last trained (what growth is
measured against) and the tasks a run decided to train but did not finish (a rerun trains them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from llm2slm.common.files import write_json

NEXT = timedelta(microseconds=1)  # a window is since <= timestamp < until: the call at `last` is in the old one


class RetrainState(BaseModel):
    watermark: datetime | None = None
    trained_sizes: dict[str, int] = {}
    pending: dict[str, list[str]] = {}  # task id -> the reasons of a decision to train that no run finished
    last_run: str = ""


def read_state(path: Path) -> RetrainState:
    """The state at `path`; an empty one when there is none yet (the first retrain after a conversion)."""
    path = Path(path)
    if not path.is_file():
        return RetrainState()
    try:
        return RetrainState.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a retrain state file ({exc}); fix or remove it (the next run then starts "
                         "after the last conversion's window)") from exc


def write_state(path: Path, state: RetrainState) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(path), state.model_dump(mode="json"))


def window_start(state: RetrainState, converted_last: datetime | None) -> datetime | None:
    """Where this run's window starts: the watermark, else just after the last converted call, else the start."""
    if state.watermark is not None:
        return state.watermark
    return converted_last + NEXT if converted_last is not None else None
