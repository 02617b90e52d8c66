"""Put a small image straight into a real registry over its HTTP API (no Docker engine)."""

from __future__ import annotations

import hashlib
import json

import httpx

from services.devenv.registry import Registry


def push_image(registry: Registry, name: str, tag: str, labels: dict[str, str]) -> str:
    """Upload a config blob and a manifest for `name:tag`; returns the manifest digest."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    with httpx.Client(base_url=registry.url, auth=registry.auth, timeout=10) as client:
        started = client.post(f"/v2/{name}/blobs/uploads/")
        started.raise_for_status()
        location = started.headers["location"]
        client.put(
            httpx.URL(location).copy_merge_params({"digest": config_digest}),
            content=config,
            headers={"Content-Type": "application/octet-stream"},
        ).raise_for_status()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": len(config),
                    "digest": config_digest,
                },
                "layers": [],
            }
        ).encode()
        put = client.put(
            f"/v2/{name}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        put.raise_for_status()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()
