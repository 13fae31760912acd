"""One way to say what is wrong with a validated value: pydantic errors as `field.path: message`."""

from __future__ import annotations

from pydantic import ValidationError


def error_location(error: dict, prefix: str = "") -> str:
    return ".".join(str(p) for p in (prefix, *error["loc"]) if p != "")


def describe_validation_error(exc: ValidationError, prefix: str = "", first_only: bool = False) -> str:
    """`a.b: message; c: message` (only the first problem when `first_only`); `prefix` leads every path."""
    errors = exc.errors(include_url=False)[:1] if first_only else exc.errors(include_url=False)
    return "; ".join(f"{error_location(e, prefix) or 'value'}: {e['msg']}" for e in errors)
