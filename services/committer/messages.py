"""The committer's commit messages and the trailers it reads back from the gitops history.

Every commit names, per service it changed, the source commit the image was built from
(`Shipline-Deployed: <service> <repository>@<sha>`): that is how a later build learns what
is deployed and refuses to go backwards. Release and rollback commits also carry the id
of the request they answer (`Shipline-Request: <event id>`), so a redelivered request
finds its commit instead of committing again. Every message ends the subject with
`[skip ci]`, so the pipeline's own commits never start a run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.events import Source

DEPLOYED = "Shipline-Deployed"
REQUEST = "Shipline-Request"
_DEPLOYED_LINE = re.compile(
    rf"^{DEPLOYED}: (?P<service>[a-z0-9-]+) (?P<repository>\S+)@(?P<commit>[0-9a-f]{{40}})$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Deployed:
    """Which source commit a service's deployed image was built from."""

    repository: str
    commit: str


def deployed_trailer(service: str, source: Source) -> str:
    return f"{DEPLOYED}: {service} {source.repository}@{source.commit}"


def deployed_grep(service: str) -> str:
    """An extended regexp for `git log --grep` matching the trailer of `service`."""
    return f"^{DEPLOYED}: {service} "


def request_grep(request_id: uuid.UUID) -> str:
    return f"^{REQUEST}: {request_id}$"


def deployed_from(message: str, service: str) -> Deployed | None:
    for match in _DEPLOYED_LINE.finditer(message):
        if match["service"] == service:
            return Deployed(match["repository"], match["commit"])
    return None


def _trailers(lines: Iterable[str]) -> str:
    block = "\n".join(lines)
    return f"\n\n{block}\n" if block else "\n"


def deploy_message(service: str, image: str, source: Source) -> str:
    subject = f"chore({service}): deploy {image} [skip ci]"
    return subject + _trailers([deployed_trailer(service, source)])


def rollback_message(
    service: str,
    current: str,
    target: str,
    by: str,
    request_id: uuid.UUID,
    source: Source | None,
) -> str:
    subject = f"revert({service}): roll back {current} to {target} [skip ci]"
    body = (
        f"\n\nRolled back by {by or 'an operator'}: {service} now runs {target} instead of "
        f"{current}.\nAutomatic deploys of {service} are held until `shipline unpin {service}`."
    )
    trailers = [deployed_trailer(service, source)] if source else []
    return subject + body + _trailers([*trailers, f"{REQUEST}: {request_id}"])


def release_message(
    version: str, notes: str, deployed: dict[str, Source], request_id: uuid.UUID
) -> str:
    subject = f"release {version} [skip ci]"
    body = f"\n\n{notes.strip()}" if notes.strip() else ""
    trailers = [deployed_trailer(service, deployed[service]) for service in sorted(deployed)]
    return subject + body + _trailers([*trailers, f"{REQUEST}: {request_id}"])
