"""Image references as the committer writes them, and the result of one manifest edit."""

from __future__ import annotations

from dataclasses import dataclass

from services.committer.yamlsplice import ManifestError

DIGEST_PREFIX = "sha256:"


@dataclass(frozen=True)
class ImageRef:
    """`repository:tag`, with the digest when known; `pinned` writes `repository:tag@digest`."""

    repository: str
    tag: str | None = None
    digest: str | None = None
    pinned: bool = False

    def __post_init__(self) -> None:
        if self.pinned and not self.digest:
            raise ManifestError(f"cannot pin {self.repository} by digest: the digest is unknown")
        if not self.tag and not self.digest:
            raise ManifestError(f"image {self.repository} has neither a tag nor a digest")

    @classmethod
    def parse(cls, reference: str) -> ImageRef:
        """`repo:tag`, `repo@sha256:...` or `repo:tag@sha256:...` (pinned with a digest)."""
        name, _, digest = reference.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = None
        if colon > slash:  # a ':' after the last '/' is the tag, not a registry port
            name, tag = name[:colon], name[colon + 1 :]
        return cls(name, tag or None, digest or None, pinned=bool(digest))

    @property
    def tag_or_digest(self) -> str:
        """The tag, pinned to the digest when pinned (what a Helm `tag` value holds)."""
        if self.pinned and self.tag:
            return f"{self.tag}@{self.digest}"
        return self.tag or f"@{self.digest}"

    def __str__(self) -> str:
        text = self.repository + (f":{self.tag}" if self.tag else "")
        if self.pinned or not self.tag:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class ImageEdit:
    text: str  # the new file content
    old_image: str  # the image value that was replaced
    changed: bool  # False when the file already held exactly this image
