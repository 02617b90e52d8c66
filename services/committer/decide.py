"""Whether a built image may replace what a service runs now, and whether it may be deployed
at all. Pure: git and Redis facts come in as data and a callable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.committer.messages import Deployed
from services.common.events import Source
from services.common.pins import Pin
from services.common.scan_verdicts import ScanVerdict


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


def refusal(
    service: str,
    image_repository: str,
    digest: str,
    configured_repository: str,
    verdict: ScanVerdict | None,
) -> str | None:
    """Why this image may not be deployed for `service`, or None when it may: only an image
    of the service's own repository (shipline.yaml at the commit) that the scanner recorded
    as passed for this digest, or whose scan a person skipped on record, saying why."""
    image = f"{image_repository}@{digest}"
    if image_repository != configured_repository:
        return (
            f"{image} is not an image of {service}: its repository is "
            f"{configured_repository} (shipline.yaml)"
        )
    if verdict is None or verdict.service != service:
        return f"the scanner recorded no verdict on {image} for {service}: it was never scanned"
    if verdict.outcome == "failed":
        return f"the scanner blocked {image} ({verdict.policy or 'scan failed'})"
    if verdict.outcome == "skipped" and not (verdict.skipped_by and verdict.skip_reason):
        return f"the scan of {image} was skipped without a recorded who and why"
    return None
