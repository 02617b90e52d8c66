"""Change one container's image in a Kubernetes manifest without touching anything else.

The YAML is parsed only to *locate* the image scalar: ruamel's composer gives every node
its exact character span in the stream (anchors and tags included, multi-document
offsets absolute). The new value is spliced into the original text at that span, so
comments, quoting, key order, indentation and document separators stay byte-identical.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import ReusedAnchorWarning, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_RE = re.compile(
    rf"(?P<name>(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
# A plain scalar made only of these could resolve to a number (YAML 1.1 sexagesimal).
_NUMERIC_LOOKING = re.compile(r"[-+0-9.:_]+")
# Node properties (tag, anchor) that precede the scalar inside a node's span.
_PROPERTIES = re.compile(r"(?:[!&]\S*\s+)*")


class ManifestError(ValueError):
    """The manifest or the requested edit is invalid; the message says what and where."""


@dataclass(frozen=True)
class ImageEdit:
    text: str  # the new file content
    old_image: str  # the image value that was replaced
    changed: bool  # False when the container already had exactly this image


@dataclass(frozen=True)
class _Container:
    where: str  # e.g. "document 2 (Deployment/user-service), container 'app' (line 31)"
    name: str
    field: str  # "containers" or "initContainers"
    node: MappingNode


def set_container_image(text: str, image: str, container: str | None = None) -> ImageEdit:
    """Return `text` with the image of `container` (or of the file's only container) set."""
    match = _IMAGE_RE.fullmatch(image)
    if not match or not (match["tag"] or match["digest"]) or len(match["name"]) > 255:
        raise ManifestError(
            f"invalid image reference {image!r}: expected 'registry/repo:tag' "
            "or 'repo@sha256:<64 hex>'"
        )
    target = _select(_containers(text), container)
    node = _image_node(target)
    if node.value == image:
        return ImageEdit(text=text, old_image=node.value, changed=False)

    start, end = node.start_mark.index, node.end_mark.index
    properties = _PROPERTIES.match(text, start, end)  # keep a `!!str ` tag as written
    if properties:
        start = properties.end()
    new_text = text[:start] + _render(image, node.style) + text[end:]

    check = _image_node(_select(_containers(new_text), target.name))
    if check.value != image:  # a splice that does not read back is a bug, never a commit
        raise ManifestError(f"{target.where}: edited image reads back as {check.value!r}")
    return ImageEdit(text=new_text, old_image=node.value, changed=True)


def _render(image: str, style: str | None) -> str:
    if style in ("'", '"'):  # the image regex admits no quotes or backslashes
        return f"{style}{image}{style}"
    return f'"{image}"' if _NUMERIC_LOOKING.fullmatch(image) else image


def _compose(text: str) -> list[Node | None]:
    try:
        with warnings.catch_warnings():  # a re-defined anchor is legal YAML, not our concern
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            return list(YAML(typ="rt").compose_all(text))
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


def _containers(text: str) -> list[_Container]:
    documents = _compose(text)
    found: list[_Container] = []
    for index, doc in enumerate(documents, start=1):
        if not isinstance(doc, MappingNode):
            continue
        kind = _scalar(_get(doc, "kind", f"document {index}"))
        if kind not in _POD_SPEC_PATHS:
            continue
        metadata = _get(doc, "metadata", f"document {index}")
        name = _scalar(_get(metadata, "name", f"document {index}"))
        workload = f"document {index} ({kind}/{name or '<unnamed>'})"
        spec: Node | None = doc
        for key in _POD_SPEC_PATHS[kind]:
            spec = _get(spec, key, workload)
        if not isinstance(spec, MappingNode):
            path = ".".join(_POD_SPEC_PATHS[kind])
            raise ManifestError(f"{workload}: {path} is missing or not a mapping")
        for field in ("containers", "initContainers"):
            items = _get(spec, field, workload)
            if items is None:
                continue
            if not isinstance(items, SequenceNode):
                raise ManifestError(f"{workload}: {field} is not a list")
            for item in items.value:
                line = item.start_mark.line + 1
                if not isinstance(item, MappingNode):
                    raise ManifestError(f"{workload}: {field} entry at line {line} is no mapping")
                cname = _scalar(_get(item, "name", workload)) or ""
                where = f"{workload}, {field[:-1]} {cname or '<unnamed>'!r} (line {line})"
                found.append(_Container(where, cname, field, item))
    return found


def _select(found: list[_Container], container: str | None) -> _Container:
    main = [c for c in found if c.field == "containers"]
    if container is None:
        if len(main) == 1:
            return main[0]
        if not main:
            kinds = ", ".join(_POD_SPEC_PATHS)
            raise ManifestError(f"no workload with containers in the file (looked for {kinds})")
        names = ", ".join(repr(c.name) for c in main)
        raise ManifestError(f"{len(main)} containers in the file ({names}); name the container")
    for field in ("containers", "initContainers"):
        hits = [c for c in found if c.field == field and c.name == container]
        if len(hits) == 1:
            return hits[0]
        if hits:
            places = "; ".join(c.where for c in hits)
            raise ManifestError(f"container {container!r} is ambiguous: {places}")
    names = ", ".join(f"{c.name!r}{' (init)' * (c.field != 'containers')}" for c in found)
    raise ManifestError(f"no container named {container!r}; the file has: {names or 'none'}")


def _image_node(target: _Container) -> ScalarNode:
    node = _get(target.node, "image", target.where)
    if node is None:
        raise ManifestError(f"{target.where}: has no image")
    if not isinstance(node, ScalarNode) or node.style in ("|", ">"):
        raise ManifestError(f"{target.where}: image is not a plain or quoted scalar")
    if node.start_mark.index == node.end_mark.index:  # `image:` with no value at all
        raise ManifestError(f"{target.where}: image is empty")
    if node.anchor is not None:  # editing it would also change every alias of it
        raise ManifestError(f"{target.where}: image is anchored (&{node.anchor}); edit by hand")
    return node


def _get(node: Node | None, key: str, where: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    values = [v for k, v in node.value if isinstance(k, ScalarNode) and k.value == key]
    if len(values) > 1:
        raise ManifestError(f"{where}: duplicate key {key!r}")
    return values[0] if values else None


def _scalar(node: Node | None) -> str | None:
    return str(node.value) if isinstance(node, ScalarNode) else None
