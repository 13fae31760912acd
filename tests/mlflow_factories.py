"""Small real MLflow models for registry tests: a models-from-code pyfunc that answers one fixed string."""

from __future__ import annotations

from pathlib import Path

MODEL_CODE = '''
import mlflow
from mlflow.pyfunc import PythonModel


class FixedAnswer(PythonModel):
    def predict(self, context, model_input, params=None):
        return [ANSWER] * len(model_input)


mlflow.models.set_model(FixedAnswer())
'''


# a gate of 0.8 agreement for every shape, 100 ms p95: what the registry tests register their versions under
GATE_RULES = {s: {"metric": "agreement", "threshold": 0.8} for s in
              ("closed_label", "json_spans", "json", "tool_call", "free_text")}


def gate_policy(mode: str = "auto", **extra):
    from llm2slm.registry.versions import PromotionPolicy

    return PromotionPolicy(mode=mode, metrics=GATE_RULES, tolerance=0.02, latency_p95_ms=100, **extra)


def tracking_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def log_fixed_model(folder: Path, answer: str = "yes") -> str:
    """Log a pyfunc that answers `answer` to every row in a new run; returns its model URI."""
    import mlflow

    from llm2slm.lineage.tracking import ensure_experiment

    code = folder / f"fixed_{abs(hash(answer))}.py"
    code.write_text(MODEL_CODE.replace("ANSWER", repr(answer)))
    experiment = ensure_experiment(tracking_uri(folder), (folder / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pyfunc.log_model(name="specialist", python_model=str(code), pip_requirements=["mlflow"])
    return info.model_uri
