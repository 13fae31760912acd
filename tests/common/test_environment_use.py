"""The process environment is read in one place (the configuration), secrets aside, and no module changes it when
it is imported: `llm2slm.common.env` sets it from a function that runs before the tools are used."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Who may read os.environ, and why. Everything else takes its settings from the configuration (load_config).
READERS = {
    "llm2slm/common/config.py": "builds the configuration: home, MLflow, Ray and Prefect from the environment",
    "llm2slm/common/env.py": "sets the tools' environment (prepare_environment) and reads what it set",
    "llm2slm/capture/local.py": "secrets, read at use: the master key and the caller's API key",
    "llm2slm/capture/gateway.py": "a secret, read at use: the upstream LLM API key",
    "llm2slm/curation/anonymize.py": "a secret, read at use: the hash salt",
    "llm2slm/registry/versions.py": "who is acting on the registry ($USER, as getpass does), when not given",
    "llm2slm/common/packaged.py": "the model cache ($LLM2SLM_MODEL_CACHE, $XDG_CACHE_HOME), read at use by every "
                                  "process that loads a packaged base, Ray workers included",
    "llm2slm/common/platform.py": "`llm2slm platform`'s port variables ($LLM2SLM_PLATFORM_*_PORT) and the caller's "
                                  "PYTHONPATH, handed on to the worker it starts",
    "llm2slm/testing/ray_cluster.py": "the test's environment and PYTHONPATH, handed on to the Ray nodes it starts",
}
CHANGES = {"setdefault", "update", "pop", "clear", "putenv", "unsetenv", "apply_quiet_offline_defaults",
           "prepare_environment"}


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def _changes_environment(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = sub.func.attr if isinstance(sub.func, ast.Attribute) else getattr(sub.func, "id", "")
            if name in CHANGES and (name in ("apply_quiet_offline_defaults", "prepare_environment", "putenv")
                                    or "environ" in ast.unparse(sub.func)):
                return True
        if isinstance(sub, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = sub.targets if isinstance(sub, (ast.Assign, ast.Delete)) else [sub.target]
            if any(isinstance(t, ast.Subscript) and "environ" in ast.unparse(t.value) for t in targets):
                return True
    return False


def _is_main_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)


@pytest.mark.parametrize("path", _sources("llm2slm", "benchmarks", "scripts", "mlflow"),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_changes_the_environment_when_imported(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    at_import = [node for node in tree.body if not isinstance(node, definitions) and not _is_main_block(node)]
    assert not [ast.unparse(n)[:80] for n in at_import if _changes_environment(n)]


def test_only_the_configuration_and_secret_lookups_read_the_environment():
    readers = {str(p.relative_to(REPO)) for p in _sources("llm2slm") if "llm2slm/cli/" not in str(p)
               and ("os.environ" in p.read_text(encoding="utf-8") or "getenv(" in p.read_text(encoding="utf-8"))}
    assert sorted(readers - set(READERS)) == []
