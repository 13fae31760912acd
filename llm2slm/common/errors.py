"""One way to say what is wrong with a validated value: pydantic errors as `field.path: message`, and one way to
read a YAML file into a validated model."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def error_location(error: dict, prefix: str = "") -> str:
    """`prefix.a.0.b` for an error at ("a", 0, "b"); empty for an error of the whole value without a prefix."""
    return ".".join(str(p) for p in (prefix, *error["loc"]) if p != "")


def describe_validation_error(exc: ValidationError, prefix: str = "", first_only: bool = False,
                              whole: str = "value") -> str:
    """`a.b: message; c: message`. `prefix` leads every path; `whole` names a problem of the value as a whole
    (no path). With `first_only`, the first problem and how many others there are: `a.b: message (+2 more)`."""
    errors = exc.errors(include_url=False)
    shown = errors[:1] if first_only else errors
    text = "; ".join(f"{error_location(e, prefix) or whole}: {e['msg']}" for e in shown)
    if first_only and len(errors) > 1:
        text += f" (+{len(errors) - 1} more)"
    return text


def load_yaml_model(path: Path | str, model: type[Model], error: type[Exception], what: str) -> Model:
    """The YAML file at `path` validated as `model`; raises `error` saying `<path>: cannot read the <what>: ...`
    or `<path>: invalid <what>: <field>: <problem>; ...`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path}: cannot read the {what}: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{path}: invalid {what}: {describe_validation_error(exc)}") from exc
