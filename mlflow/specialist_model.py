"""MLflow model from code: an llm2slm specialist as a pyfunc.

Logged by llm2slm.training.mlflow_log.log_specialist with the specialist's folder as the artifact
"specialist". `mlflow.pyfunc.load_model("models:/<name>@champion").predict(...)` takes a pandas DataFrame with a
`messages` column (a list of chat messages, or its JSON) and an optional `tools` column, or a list of such dicts,
and returns one answer string per row.
"""

from __future__ import annotations

import json
import math
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel


def _listed(value: Any, column: str, row: int) -> list[Any] | None:
    """A `messages` or `tools` cell as a list: JSON text is parsed; a missing cell (None, NaN, "") is None."""
    if hasattr(value, "tolist"):  # a numpy array (pandas may hold lists so), or a numpy scalar such as NaN
        value = value.tolist()
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise MlflowException.invalid_parameter_value(f"row {row}: `{column}` is not valid JSON: {exc}") from None
    if not isinstance(value, (list, tuple)):
        raise MlflowException.invalid_parameter_value(
            f"row {row}: `{column}` must be a list (or its JSON), not {type(value).__name__}")
    return list(value)


def _rows(model_input: Any) -> list[dict[str, Any]]:
    """The input as rows {"messages": [...], "tools": [...] | None}; a row without messages is a 400 when served
    (MLflow answers an MlflowException's invalid-parameter error with its message)."""
    if hasattr(model_input, "to_dict"):
        model_input = model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        model_input = [model_input]
    rows = []
    for number, item in enumerate(model_input):
        messages = _listed(item.get("messages"), "messages", number)
        if not messages:
            raise MlflowException.invalid_parameter_value(
                f"row {number}: each row needs `messages`, a non-empty list of chat messages")
        rows.append({"messages": messages, "tools": _listed(item.get("tools"), "tools", number)})
    return rows


class SpecialistModel(PythonModel):
    def load_context(self, context) -> None:
        from llm2slm.serving.specialist import Specialist

        self.specialist = Specialist.load(context.artifacts["specialist"])

    def predict(self, context, model_input, params=None) -> list[str]:  # noqa: ARG002
        return self.specialist.predict_rows(_rows(model_input))


mlflow.models.set_model(SpecialistModel())
