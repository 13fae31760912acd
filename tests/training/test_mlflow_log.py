"""The input the logged specialist pyfunc takes (mlflow/specialist_model.py): what a REST client sends to
`mlflow models serve` arrives as a DataFrame whose missing cells are NaN."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from llm2slm.training.mlflow_log import MODEL_CODE

MESSAGES = [{"role": "user", "content": "a table for 2"}]
TOOLS = [{"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}}]


def _rows():
    spec = importlib.util.spec_from_file_location("specialist_model", MODEL_CODE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._rows


def test_rows_from_a_frame_with_missing_tools_json_cells_and_dicts():
    rows = _rows()
    frame = pd.DataFrame([{"messages": MESSAGES}, {"messages": json.dumps(MESSAGES), "tools": TOOLS}])
    assert frame["tools"].isna().tolist() == [True, False]  # what the scoring server builds from such records
    assert rows(frame) == [{"messages": MESSAGES, "tools": None}, {"messages": MESSAGES, "tools": TOOLS}]
    assert rows([{"messages": MESSAGES, "tools": ""}]) == [{"messages": MESSAGES, "tools": None}]
    assert rows({"messages": MESSAGES}) == [{"messages": MESSAGES, "tools": None}]


@pytest.mark.parametrize(("row", "message"), [
    ({"tools": TOOLS}, "row 0: each row needs `messages`, a non-empty list of chat messages"),
    ({"messages": []}, "row 0: each row needs `messages`, a non-empty list of chat messages"),
    ({"messages": "[oops"}, "row 0: `messages` is not valid JSON: Expecting value: line 1 column 2 (char 1)"),
    ({"messages": MESSAGES, "tools": 3}, "row 0: `tools` must be a list (or its JSON), not int"),
])
def test_bad_rows_are_invalid_parameters_naming_the_row(row, message):
    with pytest.raises(MlflowException) as raised:
        _rows()([row])
    assert raised.value.message == message and raised.value.get_http_status_code() == 400
