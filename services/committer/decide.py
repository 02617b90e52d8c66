"""Whether a built image may replace what a service runs now. Pure: git and Redis facts
come in as data and a callable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.committer.messages import Deployed
from services.common.events import Source
from services.common.pins import Pin


@dataclass(frozen=True)
class Proceed:
    pass


@dataclass(frozen=True)
class Superseded:
    reason: str


@dataclass(frozen=True)
class Held:
    reason: str


Decision = Proceed | Superseded | Held


def decide(
    source: Source,
    deployed: Deployed | None,
    pin: Pin | None,
    manual: bool,
    is_ancestor: Callable[[str, str], bool],
) -> Decision:
    """Automatic deploys are held while the service is pinned, and never go backwards: an
    image built from an ancestor of the deployed commit is superseded. An operator's manual
    deploy does what it was asked."""
    if manual:
        return Proceed()
    if pin is not None:
        return Held(f"held: {pin.describe()}; `shipline unpin {pin.service}` to deploy again")
    if deployed is None or deployed.repository != source.repository:
        return Proceed()
    if deployed.commit == source.commit:
        return Proceed()  # the same build again, or a rebuild: writing it changes nothing
    if is_ancestor(source.commit, deployed.commit):
        return Superseded(
            f"superseded: {deployed.commit[:7]} is deployed, and {source.short_sha} is older"
        )
    return Proceed()
