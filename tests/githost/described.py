"""GitHub's published OpenAPI description (npm @octokit/openapi) as the judge of a loopback
exchange, and the least a described answer must hold, made from the description itself.

The answers the loopback GitHub serves are `minimal_instance` of the operation's schema
(required properties only, nullable ones null) with the fake's state laid over them: so
the client is shown only what the description promises, and each answer is checked too.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse

from tests.githost.loopback import Check, Exchange

_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "uri": "https://example.com/",
    "email": "bot@example.com",
    "uri-template": "https://example.com/{x}",
}


class Description:
    def __init__(self, path: Path) -> None:
        self.path = path

    @cached_property
    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return document

    def schema(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.document["components"]["schemas"][name]
        return schema

    def operation(self, method: str, path_template: str) -> dict[str, Any]:
        operation: dict[str, Any] = self.document["paths"][path_template][method.lower()]
        return operation

    def instance(self, name: str) -> Any:
        """The least value valid for the schema `name`: what a loopback answer starts from."""
        return self.minimal_instance(self.schema(name))

    def minimal_instance(self, schema: dict[str, Any]) -> Any:
        """The least value valid for `schema`: required properties, first choices, nulls."""
        if "$ref" in schema:
            return self.minimal_instance(self._resolve(schema["$ref"]))
        if schema.get("nullable"):
            return None
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.minimal_instance(part))
            return merged
        if "oneOf" in schema or "anyOf" in schema:
            return self.minimal_instance((schema.get("oneOf") or schema["anyOf"])[0])
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type", "object")
        if kind == "object":
            properties = schema.get("properties", {})
            return {
                key: self.minimal_instance(properties[key]) for key in schema.get("required", [])
            }
        if kind == "array":
            return []
        if kind == "string":
            return _FORMATS.get(schema.get("format", ""), "x" * max(1, schema.get("minLength", 1)))
        if kind in ("integer", "number"):
            return max(1, schema.get("minimum", 1))
        return False  # boolean

    def checker(self, base_url: str) -> Check:
        """Checks an exchange: the request against its operation, the answer against the
        operation's description of that status."""
        document = {**self.document, "servers": [{"url": base_url}]}
        api = OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))

        def check(exchange: Exchange) -> list[str]:
            request = MockRequest(
                base_url, exchange.method, exchange.path, args=exchange.query,
                headers=exchange.headers, data=exchange.body or None,
                content_type=exchange.headers.get("content-type", "application/json"),
            )  # fmt: skip
            response = MockResponse(
                exchange.answer, status_code=exchange.status, headers=exchange.answer_headers
            )
            problems = []
            where = f"{exchange.method} {exchange.path}"
            for side, validate in (
                ("request", lambda: api.validate_request(request)),
                ("answer", lambda: api.validate_response(request, response)),
            ):
                try:
                    validate()
                except OpenAPIError as exc:
                    problems.append(f"{where}: {side}: {_reason(exc)}")
            return problems

        return check

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        resolved: dict[str, Any] = node
        return resolved


def _reason(exc: BaseException) -> str:
    """The validation errors themselves (openapi-core's message repeats the whole value)."""
    cause = exc.__cause__ or exc
    errors = getattr(cause, "schema_errors", None)
    if errors:
        return "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300] for e in errors
        )
    return f"{type(exc).__name__}: {cause}"[:300]
