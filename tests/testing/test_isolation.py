"""The test doubles (`llm2slm.testing`) stay out of the pipeline: no module of the core imports them. The CLI's
demo is the one user (`llm2slm/cli/replay.py`: the replay's upstream is the fake LLM answering with the trace's
recorded answers, since the demo has no LLM to call)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "llm2slm"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_production_module_imports_the_test_doubles():
    users = [str(path.relative_to(PACKAGE)) for path in sorted(PACKAGE.rglob("*.py"))
             if "testing" not in path.relative_to(PACKAGE).parts
             and any(name == "llm2slm.testing" or name.startswith("llm2slm.testing.") for name in _imports(path))]
    assert users == ["cli/replay.py"]


def test_the_fault_injection_kills_only_the_chosen_worker_on_the_first_attempt(monkeypatch):
    from llm2slm.testing import faults
    from llm2slm.training.checkpoint import TrainProgress

    exits: list[int] = []
    monkeypatch.setattr(faults.os, "_exit", exits.append)
    monkeypatch.setattr(faults.time, "sleep", lambda _: None)
    fault = faults.FaultInjection(rank=1, step=5)
    faults.maybe_fail(fault, 0, TrainProgress(step=5, attempt_start_steps=[0]))  # another worker
    faults.maybe_fail(fault, 1, TrainProgress(step=4, attempt_start_steps=[0]))  # another step
    faults.maybe_fail(fault, 1, TrainProgress(step=5, attempt_start_steps=[0, 3]))  # the resumed attempt
    assert exits == []
    faults.maybe_fail(fault, 1, TrainProgress(step=5, attempt_start_steps=[0]))
    assert exits == [1]
