"""A service's manifest read from the gitops checkout and its image edited, with a missing
file or an unreadable layout translated into a PermanentError naming the path."""

from __future__ import annotations

from services.committer.formats import write_image
from services.committer.images import ImageEdit, ImageRef
from services.committer.yamlsplice import ManifestError
from services.common.errors import PermanentError
from services.common.git_checkout import Checkout
from services.common.project import ServiceSpec


def read_manifest(checkout: Checkout, path: str) -> str:
    text = checkout.read(path)
    if text is None:
        raise PermanentError(f"manifest {path} does not exist on {checkout.branch}")
    return text


def edit_manifest(
    text: str, service: str, spec: ServiceSpec, image: ImageRef, path: str
) -> ImageEdit:
    try:
        return write_image(text, service, spec, image)
    except ManifestError as exc:
        raise PermanentError(f"{path}: {exc}") from None
