"""Which image tags a commit gets from its ref: the rule the detector and the builder share.

`sha-<7 hex>` for a branch push, plus `latest` on the default branch; the version for a tag.
"""

from __future__ import annotations

import re


def parse_ref(ref: str) -> tuple[str, str]:
    """('branch', name) or ('tag', name); ValueError for anything else."""
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return kind, ref[len(prefix) :]
    raise ValueError(f"unsupported ref {ref!r}: expected refs/heads/* or refs/tags/*")


def docker_tag(name: str) -> str:
    """A git tag as a valid image tag: `release/1.2` → `release-1.2`, at most 128 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip(".-")
    if not cleaned:
        raise ValueError(f"tag {name!r} cannot be turned into an image tag")
    return cleaned[:128]


def commit_tag(commit: str) -> str:
    return f"sha-{commit[:7]}"


def image_tags(commit: str, kind: str, name: str, default_branch: str) -> tuple[str, ...]:
    if kind == "tag":
        return (docker_tag(name),)
    tags = [commit_tag(commit)]
    if name == default_branch:
        tags.append("latest")
    return tuple(tags)
