"""MLflow model from code: an llm2slm specialist as a pyfunc.

Logged by llm2slm.training.mlflow_log.log_specialist with the specialist's folder as the artifact
"specialist". `mlflow.pyfunc.load_model("models:/<name>@champion").predict(...)` takes a pandas DataFrame with a
`messages` column (a list of chat messages, or its JSON) and an optional `tools` column, or a list of such dicts,
and returns one answer string per row.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


def _rows(model_input: Any) -> list[dict[str, Any]]:
    if hasattr(model_input, "to_dict"):
        model_input = model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        model_input = [model_input]
    rows = []
    for item in model_input:
        messages, tools = item.get("messages"), item.get("tools")
        if isinstance(messages, str):
            messages = json.loads(messages)
        if isinstance(tools, str):
            tools = json.loads(tools) if tools else None
        if not isinstance(messages, list) or not messages:
            raise ValueError("each row needs `messages`: a non-empty list of chat messages")
        rows.append({"messages": list(messages), "tools": list(tools) if tools is not None else None})
    return rows


class SpecialistModel(PythonModel):
    def load_context(self, context) -> None:
        from llm2slm.serving.specialist import Specialist

        self.specialist = Specialist.load(context.artifacts["specialist"])

    def predict(self, context, model_input, params=None) -> list[str]:  # noqa: ARG002
        return self.specialist.predict_rows(_rows(model_input))


mlflow.models.set_model(SpecialistModel())
