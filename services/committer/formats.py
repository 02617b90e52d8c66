"""One entry point for every manifest format a service's `shipline.yaml` entry can name.

`kubernetes`: the container's `image:` in a plain manifest (any workload kind,
multi-document); `kustomize`: an `images:` entry of a kustomization.yaml; `helm`: key
paths in a values file. Each edit changes only the image value, byte-for-byte elsewhere.
Without `format:` the file says which: a `kind: Kustomization` (or an `apiVersion` of
kustomize.config.k8s.io) is kustomize, anything else kubernetes; a Helm values file holds
nothing that names it, so `format: helm` is always written out.
"""

from __future__ import annotations

import re
from typing import Literal

from services.committer.helm import helm_image, set_helm_image
from services.committer.images import ImageEdit, ImageRef
from services.committer.kustomize import kustomize_image, set_kustomize_image
from services.committer.manifest import container_image, set_container_image
from services.common.project import ServiceSpec

Format = Literal["kubernetes", "kustomize", "helm"]
_KUSTOMIZATION = re.compile(
    r"^(?:kind:[ \t]*([\"']?)Kustomization\1[ \t]*(?:#.*)?\r?$"
    r"|apiVersion:[ \t]*[\"']?kustomize\.config\.k8s\.io/)",
    re.MULTILINE,
)


def manifest_format(text: str, spec: ServiceSpec) -> Format:
    """The format the entry names, else the one the file's top-level keys show."""
    if spec.format is not None:
        return spec.format
    return "kustomize" if _KUSTOMIZATION.search(text) else "kubernetes"


def read_image(text: str, service: str, spec: ServiceSpec, image_repository: str) -> str:
    """The image the file deploys for the service, as written (with a pinned digest)."""
    match manifest_format(text, spec):
        case "kustomize":
            return kustomize_image(text, _kustomize_names(service, spec, image_repository))
        case "helm":
            return helm_image(text, spec.helm)
    return container_image(text, spec.container or service)


def write_image(text: str, service: str, spec: ServiceSpec, image: ImageRef) -> ImageEdit:
    match manifest_format(text, spec):
        case "kustomize":
            names = _kustomize_names(service, spec, image.repository)
            return set_kustomize_image(text, image, names)
        case "helm":
            return set_helm_image(text, image, spec.helm)
    return set_container_image(text, str(image), spec.container or service)


def _kustomize_names(service: str, spec: ServiceSpec, image_repository: str) -> tuple[str, ...]:
    return (spec.image_name,) if spec.image_name else (image_repository, service)
