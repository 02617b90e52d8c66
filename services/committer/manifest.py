"""Change one container's image in a Kubernetes manifest without touching anything else.

The YAML is parsed only to *locate* the image scalar (see yamlsplice): the new value is
spliced into the original text at that node's span, so comments, quoting, key order,
indentation and document separators stay byte-identical. An image other places share
through an anchor, alias or merge key is refused (see yamlshare).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from services.committer.images import ImageEdit
from services.committer.yamlshare import reach
from services.committer.yamlsplice import ManifestError, compose, editable, splice
from services.committer.yamlsplice import get as _get
from services.committer.yamlsplice import scalar as _scalar

__all__ = [
    "ImageEdit",
    "ManifestError",
    "container_image",
    "image_reference_error",
    "set_container_image",
]

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


@dataclass(frozen=True)
class _Container:
    where: str  # e.g. "document 2 (Deployment/user-service), container 'app' (line 31)"
    name: str
    field: str  # "containers" or "initContainers"
    node: MappingNode
    document: Node
    path: tuple[str | int, ...]  # from the document root, e.g. ("spec", "containers", 0)


def set_container_image(text: str, image: str, container: str | None = None) -> ImageEdit:
    """Return `text` with the image of `container` (or of the file's only container) set."""
    problem = image_reference_error(image)
    if problem:
        raise ManifestError(problem)
    target = _select(_containers(text), container)
    node = _image_node(target)
    if node.value == image:
        return ImageEdit(text=text, old_image=node.value, changed=False)

    reach(target.document, (*target.path, "image"), target.where)  # shared with others: refused
    new_text = splice(text, node, image)

    check = _image_node(_select(_containers(new_text), target.name))
    if check.value != image:  # a splice that does not read back is a bug, never a commit
        raise ManifestError(f"{target.where}: edited image reads back as {check.value!r}")
    return ImageEdit(text=new_text, old_image=node.value, changed=True)


def container_image(text: str, container: str | None = None) -> str:
    """The image of `container` (or of the file's only container)."""
    return str(_image_node(_select(_containers(text), container)).value)


def image_reference_error(image: str) -> str | None:
    """Why `image` is not a full image reference (with a tag or a digest), or None."""
    match = _IMAGE_RE.fullmatch(image)
    if not match or not (match["tag"] or match["digest"]) or len(match["name"]) > 255:
        return (
            f"invalid image reference {image!r}: expected 'registry/repo:tag' "
            "or 'repo@sha256:<64 hex>'"
        )
    return None


def _containers(text: str) -> list[_Container]:
    documents = compose(text)
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
            for position, item in enumerate(items.value):
                line = item.start_mark.line + 1
                if not isinstance(item, MappingNode):
                    raise ManifestError(f"{workload}: {field} entry at line {line} is no mapping")
                cname = _scalar(_get(item, "name", workload)) or ""
                where = f"{workload}, {field[:-1]} {cname or '<unnamed>'!r} (line {line})"
                steps = (*_POD_SPEC_PATHS[kind], field, position)
                found.append(_Container(where, cname, field, item, doc, steps))
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
    return editable(node, f"{target.where}: image")
