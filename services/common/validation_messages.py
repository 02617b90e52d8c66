"""Pydantic's validation errors as the lines Shipline prints: the key, what is wrong, never
the input value, and for an unknown key the closest valid one."""

from __future__ import annotations

import collections.abc
import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


def explain_validation(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """Turn pydantic errors into 'key: expected ...' phrases without echoing input values;
    with the `model` that was validated, an unknown key gets the closest valid one."""
    return "; ".join(f"{key}: {message}" for key, message in validation_problems(exc, model))


def validation_problems(
    exc: ValidationError, model: type[BaseModel] | None = None
) -> list[tuple[str, str]]:
    """(key, what is wrong) for each of pydantic's errors, as explain_validation words them."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden" and model is not None and error["loc"]:
            message += _suggestion(model, error["loc"])
        problems.append((key, message))
    return problems


def _suggestion(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """'; did you mean 'x'?' for an unknown key at `loc`, from the keys valid there."""
    valid = sorted(_keys_at(model, loc[:-1]))
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _keys_at(annotation: Any, loc: Sequence[int | str]) -> set[str]:
    """The field names of the model(s) `loc` leads to from `annotation` (a best effort through
    optional, list, tuple, dict and union types; empty where the way is not clear)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not loc:  # as the input spells them (`from` for a field named `source`)
            return {field.alias or name for name, field in annotation.model_fields.items()}
        field = annotation.model_fields.get(str(loc[0]))
        return _keys_at(field.annotation, loc[1:]) if field is not None else set()
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        named = [m for m in members if loc and _names(m, loc[0])]
        if named:  # pydantic puts the member's name (or tag) in the path
            return _keys_at(named[0], loc[1:])
        return set().union(*(_keys_at(member, loc) for member in members))
    if origin in (list, tuple, dict, collections.abc.Sequence, collections.abc.Mapping) and loc:
        items = [arg for arg in args if arg is not Ellipsis]  # tuple[X, ...]: X
        return _keys_at(items[-1] if items else Any, loc[1:])
    return set()


def _names(member: Any, part: int | str) -> bool:
    """Whether `part` of an error's path names this union member: its class, or the tag of a
    discriminated union (a Literal field such as a channel's `type`)."""
    if getattr(member, "__name__", None) == part:
        return True
    if isinstance(member, type) and issubclass(member, BaseModel):
        return any(
            get_origin(field.annotation) is Literal and part in get_args(field.annotation)
            for field in member.model_fields.values()
        )
    return False
