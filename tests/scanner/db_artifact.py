"""Push a Trivy database to a registry the way Trivy's publishers do (trivy-db's and
trivy-java-db's release workflows, `oras push`): an OCI image manifest whose config is
`application/vnd.aquasec.trivy.config.v1+json` and whose single layer is the database's
tar.gz, titled (org.opencontainers.image.title) with the file name Trivy unpacks."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import httpx

from services.devenv.registry import Registry

LAYER_TYPES = {
    "db": ("application/vnd.aquasec.trivy.db.layer.v1.tar+gzip", "db.tar.gz"),
    "java-db": ("application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip", "javadb.tar.gz"),
}
CONFIG_TYPE = "application/vnd.aquasec.trivy.config.v1+json"


def db_tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _push_blob(client: httpx.Client, repository: str, content: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    started.raise_for_status()
    location = started.headers["Location"]
    separator = "&" if "?" in location else "?"
    client.put(
        f"{location}{separator}digest={digest}",
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    ).raise_for_status()
    return digest


def push_db(
    registry: Registry, repository: str, tag: str, kind: str, files: dict[str, bytes]
) -> str:
    """Push `files` as the `kind` database to `repository:tag`; the manifest's digest."""
    layer_type, title = LAYER_TYPES[kind]
    layer = db_tarball(files)
    config = b"{}"
    with httpx.Client(base_url=registry.url, auth=registry.auth, timeout=30.0) as client:
        layer_digest = _push_blob(client, repository, layer)
        config_digest = _push_blob(client, repository, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
            "layers": [
                {
                    "mediaType": layer_type,
                    "digest": layer_digest,
                    "size": len(layer),
                    "annotations": {"org.opencontainers.image.title": title},
                }
            ],
        }
        response = client.put(
            f"/v2/{repository}/manifests/{tag}",
            content=json.dumps(manifest).encode(),
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        response.raise_for_status()
    return response.headers["Docker-Content-Digest"]
