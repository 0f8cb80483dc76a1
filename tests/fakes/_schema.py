"""Build a small, valid instance of a JSON schema.

The fake OpenAI server uses this to answer structured-output requests
(``response_format`` of type ``json_schema``) and forced tool calls with
arguments that a client-side validator such as pydantic accepts.

The rules are deliberately simple and predictable:

* objects get every ``required`` property (and no optional ones);
* ``enum`` yields its first value, ``const`` its value;
* strings are ``"example"`` (or a sample for a known ``format``), integers ``1``,
  numbers ``1.0``, booleans ``True``, all clamped to declared bounds;
* arrays hold one item (or ``minItems`` items);
* ``$ref`` is followed inside the root document (``$defs``/``definitions``);
* ``anyOf``/``oneOf`` take their first option, ``allOf`` is merged.

Past a nesting depth, recursion is broken by choosing a ``null`` option or an
empty array where the schema allows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["example_for_schema"]

_SOFT_DEPTH = 8
_HARD_DEPTH = 64

_STRING_FORMATS: Mapping[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "duration": "P1D",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
}


def example_for_schema(schema: Mapping[str, Any]) -> Any:
    """Return a value that is valid under ``schema``.

    Args:
        schema: A JSON schema document; ``$ref`` pointers are resolved against it.

    Returns:
        A JSON-serialisable value (dict, list, str, int, float, bool or None).
    """
    return _Builder(schema).build(schema, 0)


class _Builder:
    """Walks one schema document, keeping the root for ``$ref`` resolution."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        """Remember the root document.

        Args:
            root: The schema whose ``$defs`` references point into.
        """
        self._root = root

    def build(self, schema: Any, depth: int) -> Any:
        """Build an instance of ``schema`` found ``depth`` levels below the root.

        Args:
            schema: A (sub)schema; ``True``/``{}`` accept anything.
            depth: Current nesting depth, used to stop recursive schemas.

        Returns:
            A valid instance.
        """
        if not isinstance(schema, Mapping) or depth > _HARD_DEPTH:
            return "example" if schema is not False else None
        if "$ref" in schema:
            return self.build(self._resolve(str(schema["$ref"])), depth + 1)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, Sequence) and not isinstance(enum, str) and enum:
            return enum[0]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, Sequence) and options:
                return self.build(self._pick(options, depth), depth + 1)
        if isinstance(schema.get("allOf"), Sequence):
            return self.build(self._merge(schema), depth + 1)
        kind = _type_of(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _string(schema)

    def _resolve(self, ref: str) -> Any:
        """Follow a local JSON pointer such as ``#/$defs/Item``; unknown refs accept anything."""
        if not ref.startswith("#"):
            return {}
        node: Any = self._root
        for part in ref.lstrip("#").split("/"):
            if not part:
                continue
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                return {}
            node = node[key]
        return node

    def _pick(self, options: Sequence[Any], depth: int) -> Any:
        """Choose the first option, or a ``null`` one once the schema nests too deep."""
        if depth >= _SOFT_DEPTH:
            for option in options:
                if isinstance(option, Mapping) and _type_of(option) == "null":
                    return option
        return options[0]

    def _merge(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """Fold ``allOf`` members (and the schema itself) into one object schema."""
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties: dict[str, Any] = dict(merged.get("properties", {}))
        required: list[str] = list(merged.get("required", []))
        for member in schema["allOf"]:
            part = self._resolve(member["$ref"]) if "$ref" in member else member
            if not isinstance(part, Mapping):
                continue
            for key, value in part.items():
                merged.setdefault(key, value)
            properties.update(part.get("properties", {}))
            required.extend(name for name in part.get("required", []) if name not in required)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        """Build an object holding every required property."""
        properties: Mapping[str, Any] = schema.get("properties") or {}
        return {
            name: self.build(properties.get(name, {}), depth + 1)
            for name in schema.get("required") or []
        }

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        """Build an array of one item, ``minItems`` items, or the ``prefixItems``."""
        prefix = [self.build(item, depth + 1) for item in schema.get("prefixItems") or []]
        minimum = int(schema.get("minItems", 0))
        wanted = max(minimum, 1) if depth < _SOFT_DEPTH else minimum
        items = schema.get("items", {})
        if items is False:
            return prefix
        rest = [self.build(items, depth + 1) for _ in range(max(wanted - len(prefix), 0))]
        return prefix + rest


def _type_of(schema: Mapping[str, Any]) -> str:
    """Return the schema's type, inferring it when ``type`` is absent or a list."""
    declared = schema.get("type")
    if isinstance(declared, list):
        concrete = [t for t in declared if t != "null"]
        declared = concrete[0] if concrete else "null"
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    """Return 1 (or 1.0), moved inside any declared bounds."""
    value: float = 1
    step = 1 if integer else 0.5
    if "minimum" in schema:
        value = max(value, float(schema["minimum"]))
    if "exclusiveMinimum" in schema:
        value = max(value, float(schema["exclusiveMinimum"]) + step)
    if "maximum" in schema:
        value = min(value, float(schema["maximum"]))
    if "exclusiveMaximum" in schema:
        value = min(value, float(schema["exclusiveMaximum"]) - step)
    if integer:
        return int(value)
    return float(value)


def _string(schema: Mapping[str, Any]) -> str:
    """Return ``"example"`` or a format sample, padded/truncated to length bounds."""
    text = _STRING_FORMATS.get(str(schema.get("format", "")), "example")
    minimum = int(schema.get("minLength", 0))
    if len(text) < minimum:
        text += "x" * (minimum - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text
