"""Set a service's image in a `kustomization.yaml` `images:` entry, byte-for-byte elsewhere.

The entry is found by its `name` (the image name the base manifests use) or by its
`newName`. `newName`, `newTag` and `digest` are updated where present; a missing `newTag`
(or `digest`, when pinning; `newName`, when the repository differs from `name`) is added
as the entry's last key, at its indentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml.nodes import MappingNode, SequenceNode

from services.committer.images import ImageEdit, ImageRef
from services.committer.yamlshare import locate, reach
from services.committer.yamlsplice import ManifestError, compose, get, insert_key, scalar, splice


def kustomize_image(text: str, names: Sequence[str]) -> str:
    """The image the entry makes kustomize write: `newName:newTag@digest` as present."""
    fields = _fields(text, names)
    image = fields["newName"] or fields["name"] or ""
    tag, digest = fields["newTag"], fields["digest"]
    return image + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def set_kustomize_image(text: str, image: ImageRef, names: Sequence[str]) -> ImageEdit:
    original, old = text, kustomize_image(text, names)
    fields = _fields(text, names)
    wanted: list[tuple[str, str]] = []
    if fields["newName"] is not None or fields["name"] != image.repository:
        wanted.append(("newName", image.repository))
    if image.tag:
        wanted.append(("newTag", image.tag))
    if image.digest and (image.pinned or fields["digest"] is not None):
        wanted.append(("digest", image.digest))
    elif fields["digest"] is not None:
        raise ManifestError(f"the images entry pins a digest, but the digest of {image} is unknown")
    for key, value in wanted:  # one edit at a time: every edit moves the offsets after it
        entry = _entry(text, names)
        node = get(entry.node, key, entry.where)
        if node is None:
            reach(entry.document, entry.path, entry.where)  # added to a shared entry: shared too
            text = insert_key(text, entry.node, key, value, entry.where)
        elif scalar(node) != value:
            where = f"{entry.where}: {key}"
            text = splice(text, locate(entry.document, (*entry.path, key), where), value)
    after = _fields(text, names)
    if any(after[key] != value for key, value in wanted):  # never commit what does not read back
        raise ManifestError(
            f"the edited images entry reads back as {kustomize_image(text, names)!r}"
        )
    return ImageEdit(text=text, old_image=old, changed=text != original)


@dataclass(frozen=True)
class _Entry:
    document: MappingNode
    path: tuple[str, int]  # ("images", index)
    node: MappingNode
    where: str  # "images entry at line 7"


def _fields(text: str, names: Sequence[str]) -> dict[str, str | None]:
    entry = _entry(text, names)
    keys = ("name", "newName", "newTag", "digest")
    return {key: scalar(get(entry.node, key, entry.where)) for key in keys}


def _entry(text: str, names: Sequence[str]) -> _Entry:
    documents = [d for d in compose(text) if isinstance(d, MappingNode)]
    images = get(documents[0], "images", "kustomization") if documents else None
    if not isinstance(images, SequenceNode):
        raise ManifestError("kustomization has no images: list")
    hits = []
    for index, item in enumerate(images.value):
        if not isinstance(item, MappingNode):
            continue
        where = f"images entry at line {item.start_mark.line + 1}"
        keys = (scalar(get(item, "name", where)), scalar(get(item, "newName", where)))
        if any(key in names for key in keys if key):
            hits.append(_Entry(documents[0], ("images", index), item, where))
    wanted = " or ".join(repr(n) for n in names)
    if not hits:
        present = [scalar(get(i, "name", "images")) for i in images.value]
        raise ManifestError(f"no images entry named {wanted}; the file has: {present}")
    if len(hits) > 1:
        lines = ", ".join(hit.where for hit in hits)
        raise ManifestError(f"several images entries match {wanted}: {lines}")
    return hits[0]
