"""Which image a rollback goes back to, from the images the manifest held over time. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.committer.messages import Deployed
from services.common.errors import PermanentError


@dataclass(frozen=True)
class Version:
    """The manifest at one commit that changed it: the image it deployed, and from where."""

    commit: str
    image: str
    deployed: Deployed | None = None


def previous_image(history: Sequence[Version], current: str) -> Version:
    """The newest image before the current one (history newest first)."""
    for version in history:
        if version.image != current:
            return version
    raise PermanentError(f"no earlier image than {current} in the manifest's history")


def provenance(history: Sequence[Version], image: str) -> Deployed | None:
    """Where `image` was built from, as the newest commit that deployed it recorded."""
    return next((v.deployed for v in history if v.image == image and v.deployed), None)
