"""The house rules a newcomer relies on: small modules, short functions, one home per artefact path."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("llm2slm", "tasks", "flows", "benchmarks", "scripts", "mlflow")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: split it by what its parts hold"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


def test_stage_outputs_are_named_only_in_the_artifact_catalogue():
    """File names of the stage outputs appear in code only in the catalogue (docs and tests may name them)."""
    from llm2slm.common.artifacts import ARTIFACTS

    names = {Path(a.path).name for a in ARTIFACTS if a.stage and "." in a.path}
    home = ROOT / "llm2slm" / "common" / "artifacts.py"
    offenders = []
    for path in _sources():
        if path == home or path.parts[-2] == "benchmarks":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names if f'"{name}"' in text]
    assert not offenders, offenders
