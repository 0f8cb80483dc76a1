"""A small valid instance of a JSON schema, for the offline model's typed replies.

The offline model answers any structured-output request, including schemas it has never seen:
it builds the smallest instance the schema accepts (every required property, the first enum
value, the first `anyOf` option) and then fills the fields it knows how to fill sensibly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["instance_of"]

_MAX_DEPTH = 12


def instance_of(schema: Mapping[str, Any]) -> Any:
    """A JSON value valid under `schema` (`$ref` resolved against the schema's `$defs`)."""
    return _build(schema, schema, 0)


def _resolve(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _build(root: Mapping[str, Any], schema: Mapping[str, Any], depth: int) -> Any:
    if "$ref" in schema:
        return _build(root, _resolve(root, str(schema["$ref"])), depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options:
            nullable = [o for o in options if o.get("type") == "null"]
            if depth > _MAX_DEPTH and nullable:
                return None
            return _build(root, options[0], depth + 1)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required", list(properties))
        return {name: _build(root, properties[name], depth + 1) for name in required}
    if kind == "array":
        if depth > _MAX_DEPTH:
            return []
        count = int(schema.get("minItems", 1))
        return [_build(root, schema.get("items") or {}, depth + 1) for _ in range(count)]
    if kind == "string":
        return "x" * int(schema.get("minLength", 0)) or "offline"
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None
