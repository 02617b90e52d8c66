"""Byte-preserving YAML edits: locate a scalar with ruamel's composer, splice the new value in.

The composer gives every node its exact character span in the stream (anchors and tags
included, multi-document offsets absolute). Only that span is rewritten, so comments,
quoting, key order, indentation and document separators stay byte-identical. Every
format module (plain manifests, kustomization, Helm values) edits through these helpers.
"""

from __future__ import annotations

import functools
import re
import warnings

from ruamel.yaml import YAML
from ruamel.yaml.error import ReusedAnchorWarning, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

# A plain scalar made only of these could resolve to a number (YAML 1.1 sexagesimal).
_NUMERIC_LOOKING = re.compile(r"[-+0-9.:_]+")
# A plain scalar that YAML would read as something other than this string.
_NEEDS_QUOTES = re.compile(r"^(?:[-+0-9.:_]+|true|false|yes|no|on|off|null|~|)$", re.IGNORECASE)
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Node properties (tag, anchor) that precede the scalar inside a node's span.
_PROPERTIES = re.compile(r"(?:[!&]\S*\s+)*")


class ManifestError(ValueError):
    """The manifest or the requested edit is invalid; the message says what and where."""


def compose(text: str) -> list[Node | None]:
    """Every document of the stream as a node tree with character positions (read only:
    the trees of a text are shared, see _composed)."""
    return list(_composed(text))


# A deploy composes the manifest as the survey after the commit before left it, and the
# survey after this commit composes what the deploy's read-back check just composed: each
# text once per committer process (nothing here edits a node; a failure is not kept).
@functools.lru_cache(maxsize=64)
def _composed(text: str) -> tuple[Node | None, ...]:
    try:
        with warnings.catch_warnings():  # a re-defined anchor is legal YAML, not our concern
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            return tuple(YAML(typ="rt").compose_all(text))
    except ReaderError as exc:  # a character YAML forbids: only a stream position
        line = text.count("\n", 0, exc.position) + 1
        raise ManifestError(
            f"not valid YAML at line {line}: unacceptable character #x{exc.character:04x}"
        ) from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"not valid YAML{where}: {problem}") from None


def get(node: Node | None, key: str, where: str, *, follow_merges: bool = True) -> Node | None:
    """The value under `key` of a mapping node (None when absent or not a mapping); a key
    the mapping does not hold itself is looked up in its merge keys (`<<: *base`), as a
    YAML reader does. Editing such a value is for yamlshare to refuse."""
    return _lookup(node, key, where, follow_merges, set())


def _lookup(node: Node | None, key: str, where: str, follow: bool, seen: set[int]) -> Node | None:
    if not isinstance(node, MappingNode) or id(node) in seen:
        return None
    values = [
        v
        for k, v in node.value
        if isinstance(k, ScalarNode) and k.tag != _MERGE_TAG and k.value == key
    ]
    if len(values) > 1:
        raise ManifestError(f"{where}: duplicate key {key!r}")
    if values or not follow:
        return values[0] if values else None
    seen.add(id(node))  # a mapping merging itself (`&a {<<: *a}`) must not loop
    for source in merge_sources(node):  # the first merged mapping holding the key wins
        found = _lookup(source, key, where, follow, seen)
        if found is not None:
            return found
    return None


def merge_sources(node: Node | None) -> list[Node]:
    """The mappings a mapping's merge key (`<<: *base` or `<<: [*a, *b]`) brings in, in order."""
    if not isinstance(node, MappingNode):
        return []
    sources: list[Node] = []
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag == _MERGE_TAG:
            sources += value.value if isinstance(value, SequenceNode) else [value]
    return sources


def get_path(root: Node | None, path: str, where: str) -> Node | None:
    """The node at a dotted key path (`image.tag`), or None when any step is missing."""
    node = root
    for key in path.split("."):
        node = get(node, key, where)
        if node is None:
            return None
    return node


def scalar(node: Node | None) -> str | None:
    return str(node.value) if isinstance(node, ScalarNode) else None


def editable(node: Node | None, where: str) -> ScalarNode:
    """The node, when it is a plain or quoted scalar whose value can be spliced. Whether
    other places share it (anchors, aliases, merges) is yamlshare.locate's question."""
    if node is None:
        raise ManifestError(f"{where} is missing")
    if not isinstance(node, ScalarNode) or node.style in ("|", ">"):
        raise ManifestError(f"{where} is not a plain or quoted scalar")
    if node.start_mark.index == node.end_mark.index:  # `key:` with no value at all
        raise ManifestError(f"{where} is empty")
    return node


def render(value: str, style: str | None) -> str:
    """`value` as a scalar in the node's quote style; plain values that would not read back
    as this string are double-quoted. Values here never hold quotes or backslashes."""
    if style in ("'", '"'):
        return f"{style}{value}{style}"
    return f'"{value}"' if _NUMERIC_LOOKING.fullmatch(value) else value


def splice(text: str, node: ScalarNode, value: str) -> str:
    """`text` with the scalar `node` replaced by `value`, everything else untouched."""
    start, end = node.start_mark.index, node.end_mark.index
    properties = _PROPERTIES.match(text, start, end)  # keep a `!!str ` tag as written
    if properties:
        start = properties.end()
    return text[:start] + render(value, node.style) + text[end:]


def insert_key(text: str, mapping: Node, key: str, value: str, where: str) -> str:
    """`text` with `key: value` added as the last entry of a block mapping, at its indentation."""
    if not isinstance(mapping, MappingNode) or not mapping.value:
        raise ManifestError(f"{where}: not a mapping with entries")
    if mapping.flow_style:
        raise ManifestError(f"{where}: is a flow mapping ({{...}}); add {key!r} by hand")
    first_key = mapping.value[0][0]
    last_value = mapping.value[-1][1]
    indent = " " * first_key.start_mark.column
    # The end of the line holding the last value's end (after any trailing comment).
    after = max(last_value.end_mark.index - 1, first_key.start_mark.index)
    line_end = text.find("\n", after)
    if line_end == -1:
        line_end = len(text)
    newline = "\r\n" if line_end > 0 and text[line_end - 1 : line_end] == "\r" else "\n"
    if newline == "\r\n":
        line_end -= 1
    quoted = f'"{value}"' if _NEEDS_QUOTES.fullmatch(value) else value
    return text[:line_end] + f"{newline}{indent}{key}: {quoted}" + text[line_end:]
