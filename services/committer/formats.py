"""One entry point for every manifest format a service's `shipline.yaml` entry can name.

`kubernetes` (default): the container's `image:` in a plain manifest (any workload kind,
multi-document); `kustomize`: an `images:` entry of a kustomization.yaml; `helm`: key
paths in a values file. Each edit changes only the image value, byte-for-byte elsewhere.
"""

from __future__ import annotations

from services.committer.helm import helm_image, set_helm_image
from services.committer.images import ImageEdit, ImageRef
from services.committer.kustomize import kustomize_image, set_kustomize_image
from services.committer.manifest import container_image, set_container_image
from services.common.project import ServiceSpec


def read_image(text: str, service: str, spec: ServiceSpec, image_repository: str) -> str:
    """The image the file deploys for the service, as written (with a pinned digest)."""
    match spec.format:
        case "kustomize":
            return kustomize_image(text, _kustomize_names(service, spec, image_repository))
        case "helm":
            return helm_image(text, spec.helm)
    return container_image(text, spec.container or service)


def write_image(text: str, service: str, spec: ServiceSpec, image: ImageRef) -> ImageEdit:
    match spec.format:
        case "kustomize":
            names = _kustomize_names(service, spec, image.repository)
            return set_kustomize_image(text, image, names)
        case "helm":
            return set_helm_image(text, image, spec.helm)
    return set_container_image(text, str(image), spec.container or service)


def _kustomize_names(service: str, spec: ServiceSpec, image_repository: str) -> tuple[str, ...]:
    return (spec.image_name,) if spec.image_name else (image_repository, service)
