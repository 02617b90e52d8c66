"""GitHub webhook payloads made from GitHub's published webhook schemas (npm
@octokit/openapi-webhooks, OpenAPI 3.1) and checked against them: the least payload the
schema allows, with a test's values laid over it, so the gateway is shown only what GitHub
promises to send."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

_FORMATS = {"date-time": "2026-01-01T00:00:00Z", "uri": "https://example.com/"}


class WebhookSchemas:
    def __init__(self, path: Path) -> None:
        self.path = path

    @cached_property
    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return document

    def payload(self, name: str, overlay: dict[str, Any]) -> dict[str, Any]:
        """The least `name` payload with `overlay` merged in (dicts deeply), checked."""
        payload: dict[str, Any] = _merged(self._minimal({"$ref": _ref(name)}), overlay)
        self.check(name, payload)
        return payload

    def check(self, name: str, payload: dict[str, Any]) -> None:
        """Raises jsonschema's ValidationError when `payload` is no `name` payload."""
        schema = {"$ref": _ref(name), "components": self.document["components"]}
        Draft202012Validator(schema).validate(payload)

    def _minimal(self, schema: dict[str, Any]) -> Any:
        if "$ref" in schema:
            return self._minimal(self._resolve(schema["$ref"]))
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self._minimal(part))
            return merged
        choices = schema.get("oneOf") or schema.get("anyOf")
        if choices:
            return self._minimal(choices[0])
        if "enum" in schema:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type", "object")
        if isinstance(kind, list):
            if "null" in kind:
                return None
            kind = kind[0]
        if kind == "object":
            properties = schema.get("properties", {})
            return {
                key: self._minimal(properties.get(key, {})) for key in schema.get("required", [])
            }
        if kind == "array":
            return []
        if kind == "string":
            return _FORMATS.get(schema.get("format", ""), "x" * max(1, schema.get("minLength", 1)))
        if kind in ("integer", "number"):
            return max(1, schema.get("minimum", 1))
        if kind == "null":
            return None
        return False

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return dict(node)


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


def _merged(base: Any, overlay: dict[str, Any]) -> Any:
    result = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result
