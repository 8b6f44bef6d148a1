"""The body of a write call, checked against the operation's declared fields."""

from __future__ import annotations

from typing import Any

from broker import exceptions
from connections.providers.operations import Operation


def validate_body(operation: Operation, body: Any) -> dict:
    if not isinstance(body, dict):
        raise exceptions.InvalidRequest("The request body must be a JSON object.")
    out: dict = {}
    errors: dict[str, str] = {}
    for spec in operation.body_fields:
        value = body.get(spec.name)
        if value is None:
            if spec.required:
                errors[spec.name] = "This field is required."
            continue
        if not isinstance(value, spec.kind):
            errors[spec.name] = f"Must be a {spec.kind.__name__}."
        elif isinstance(value, str) and len(value) > spec.max_length:
            errors[spec.name] = f"At most {spec.max_length} characters."
        elif isinstance(value, str) and spec.required and not value.strip():
            errors[spec.name] = "Must not be blank."
        else:
            out[spec.name] = value
    unknown = sorted(set(body) - {f.name for f in operation.body_fields})
    for key in unknown[:10]:
        errors[str(key)[:64]] = "Unknown field."
    if errors:
        raise exceptions.InvalidRequest("The request body is invalid.", fields=errors)
    return out
