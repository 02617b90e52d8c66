"""JSON request bodies, parsed with a nesting limit.

Python's `json` recurses once per level: `[[[[…]]]]` 100,000 deep exhausts the stack
(a RecursionError, answered 500). pydantic-core's parser refuses anything nested deeper
than MAX_DEPTH levels instead, which no body this API accepts comes close to. Every body
the gateway reads itself (the API's and the webhooks') goes through it.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import from_json

MAX_DEPTH = 200  # pydantic-core's own limit: deeper documents are refused, not parsed


class InvalidJson(ValueError):
    """A body that is not JSON, or nests deeper than MAX_DEPTH; `reason` is safe to answer."""

    def __init__(self, parser_message: str) -> None:
        self.reason = invalid_json_reason(parser_message)
        super().__init__(self.reason)


def invalid_json_reason(parser_message: str) -> str:
    """The answer for a parser's complaint: what is wrong and where, nothing of the body."""
    if "recursion limit" in parser_message:
        return f"body is not valid JSON: nested more than {MAX_DEPTH} levels deep"
    return f"body is not valid JSON: {parser_message}"


def decode_json(body: bytes) -> Any:
    """The body's JSON value; raises InvalidJson (never RecursionError) for anything else."""
    try:
        return from_json(body)
    except ValueError as exc:
        raise InvalidJson(str(exc)) from None
