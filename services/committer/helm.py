"""Set a service's image in a Helm values file, byte-for-byte elsewhere.

The key paths are configurable per service (default `image.repository` and `image.tag`,
optionally `image.digest`). A pin without a digest key goes into the tag as
`tag@sha256:...`, which charts rendering `{{ repository }}:{{ tag }}` turn into a pinned
reference. The keys must exist: a values file's structure is the chart's, not ours.
"""

from __future__ import annotations

from ruamel.yaml.nodes import MappingNode

from services.committer.images import ImageEdit, ImageRef
from services.committer.yamlshare import locate
from services.committer.yamlsplice import ManifestError, compose, get_path, scalar, splice
from services.common.project import HelmKeys


def helm_image(text: str, keys: HelmKeys) -> str:
    """`repository:tag` (and `@digest` with a digest key) as the values file holds them."""
    values = _values(text)
    repository = scalar(get_path(values, keys.repository, "values")) if keys.repository else ""
    tag = scalar(get_path(values, keys.tag, "values")) or ""
    digest = scalar(get_path(values, keys.digest, "values")) if keys.digest else None
    image = f"{repository}:{tag}" if repository else tag
    return f"{image}@{digest}" if digest else image


def set_helm_image(text: str, image: ImageRef, keys: HelmKeys) -> ImageEdit:
    original, old = text, helm_image(text, keys)
    wanted: list[tuple[str, str, str]] = []  # (HelmKeys field, key path, value)
    if keys.repository:
        wanted.append(("repository", keys.repository, image.repository))
    if keys.digest:
        if not image.digest:
            raise ManifestError(
                f"values key {keys.digest} wants a digest; that of {image} is unknown"
            )
        wanted += [("tag", keys.tag, image.tag or ""), ("digest", keys.digest, image.digest)]
    else:
        wanted.append(("tag", keys.tag, image.tag_or_digest))
    for field, path, value in wanted:  # one edit at a time: every edit moves the offsets after it
        values = _values(text)
        node = get_path(values, path, "values")
        if node is None:
            raise ManifestError(f"the values file has no {path}")
        if scalar(node) != value:
            # A key path the user wrote may point at an anchor's own place: the shared value
            # is what they asked for. A default path was never looked at: refuse the anchor.
            node = locate(
                values,
                path.split("."),
                f"values {path}",
                own_place_ok=field in keys.model_fields_set,
                keys_hint="the service's helm keys",
            )
            text = splice(text, node, value)
    values = _values(text)
    for _, path, value in wanted:  # never commit what does not read back
        if scalar(get_path(values, path, "values")) != value:
            raise ManifestError(f"values {path}: edited value does not read back as {value!r}")
    return ImageEdit(text=text, old_image=old, changed=text != original)


def _values(text: str) -> MappingNode:
    documents = compose(text)
    if not documents or not isinstance(documents[0], MappingNode):
        raise ManifestError("the values file is not a mapping")
    return documents[0]
