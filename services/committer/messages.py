"""The committer's commit messages and the trailers it reads back from the gitops history.

Every commit names, per service it changed, the source commit the image was built from
(`Shipline-Deployed: <service> <repository>@<sha>`): that is how a later build learns what
is deployed and refuses to go backwards. Release, rollback and unpin commits carry the id
of the request they answer (`Shipline-Request: <event id>`), so a redelivered request
finds its commit instead of committing again. Every message ends the subject with
`[skip ci]`, so the pipeline's own commits never start a run. A deploy or promotion whose
image the scanner recorded as passed also names it by digest
(`Shipline-Image: <service> <image repository>@sha256:<hex>`): the scan verdict's evidence
in git, found again when Redis lost the verdict (services/committer/scan_evidence.py).

Nothing from an event, a manifest or a commit subject may add a line to a message: names,
versions, repositories and images are checked against strict patterns (a mismatch refuses
the commit with PermanentError), free text is folded onto one line, and every message is
checked to carry exactly the trailers it was built with.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.errors import PermanentError
from services.common.events import Source

DEPLOYED = "Shipline-Deployed"
REQUEST = "Shipline-Request"
IMAGE = "Shipline-Image"  # a scanned, passed image by digest: its verdict's evidence in git
RUN = "Shipline-Run"  # a promotion's run: its pull request is found again after a data loss
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_DEPLOYED_LINE = re.compile(
    rf"^{DEPLOYED}: (?P<service>[a-z0-9-]+) (?P<repository>\S+)@(?P<commit>[0-9a-f]{{40}})$",
    re.MULTILINE,
)
_TRAILER_LINE = re.compile(rf"^(?:{DEPLOYED}|{REQUEST}|{RUN}|{IMAGE}):", re.MULTILINE)
IMAGE_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+-]{0,254}")  # host[:port]/path
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+/-]{0,127}")  # a release tag's name
_SERVICE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+")
_IMAGE = re.compile(r"[A-Za-z0-9._:/@+-]{1,512}")  # repository[:tag][@sha256:digest]
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # control characters, line breaks


def _checked(kind: str, value: str, pattern: re.Pattern[str], expected: str) -> str:
    if pattern.fullmatch(value) is None:
        raise PermanentError(f"{kind} {value[:80]!r} refused for a commit message: {expected}")
    return value


def checked_version(version: str) -> str:
    """A release version as it may appear in a commit message, or PermanentError."""
    return _checked(
        "release version",
        version,
        VERSION,
        "letters, digits and '._+/-', at most 128, starting with a letter or digit",
    )


def one_line(text: str) -> str:
    """Free text (a person's name, a commit subject) with no way to start a new line."""
    return _BREAKS.sub(" ", text).strip()


def _image(image: str) -> str:
    return _checked("image", image, _IMAGE, "an image reference without spaces or line breaks")


def _assembled(subject: str, body: str, trailers: list[str]) -> str:
    """The message; PermanentError should any part have slipped in a line of its own."""
    message = subject + body + _trailers(trailers)
    if "\n" in subject or len(_TRAILER_LINE.findall(message)) != len(trailers):
        raise PermanentError("commit message refused: a value would add a line of its own")
    return message


@dataclass(frozen=True)
class Deployed:
    """Which source commit a service's deployed image was built from."""

    repository: str
    commit: str


def deployed_trailer(service: str, source: Source, environment: str | None = None) -> str:
    """`environment`: a later environment than the first, named after the commit (` in
    production`); the first environment's trailer keeps the form every reader anchors on."""
    _checked("service", service, _SERVICE, "a lowercase DNS label")
    _checked("repository", source.repository, _REPOSITORY, "owner/name")
    trailer = f"{DEPLOYED}: {service} {source.repository}@{source.commit}"
    if environment is None:
        return trailer
    return f"{trailer} in {_checked('environment', environment, _SERVICE, 'a DNS label')}"


def image_trailer(service: str, image_repository: str, digest: str) -> str:
    """The evidence that the scanner recorded `digest` as passed for `service`: only ever
    written after the committer's admission found that verdict."""
    _checked("service", service, _SERVICE, "a lowercase DNS label")
    _checked("image repository", image_repository, IMAGE_REPOSITORY, "host/path")
    _checked("digest", digest, DIGEST, "sha256: and 64 lowercase hex digits")
    return f"{IMAGE}: {service} {image_repository}@{digest}"


def image_grep(service: str, image_repository: str, digest: str) -> str:
    """An extended regexp for `git log --grep` matching exactly that image trailer."""
    trailer = image_trailer(service, image_repository, digest)
    return "^" + trailer.replace(".", "[.]").replace("+", "[+]") + "$"


def scanned_image(image_repository: str, digest: str) -> tuple[str, str] | None:
    """The image as a `Shipline-Image` trailer may name it, or None when its repository or
    digest has another form (a digest that is not sha256: no evidence is written)."""
    if IMAGE_REPOSITORY.fullmatch(image_repository) and DIGEST.fullmatch(digest):
        return image_repository, digest
    return None


def _images(scanned: dict[str, tuple[str, str]] | None) -> list[str]:
    """`scanned`: service → (image repository, digest) the scanner recorded as passed."""
    scanned = scanned or {}
    return [image_trailer(service, *scanned[service]) for service in sorted(scanned)]


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


def deploy_message(
    service: str, image: str, source: Source, scanned: tuple[str, str] | None = None
) -> str:
    """`scanned`: (image repository, digest) when the scanner recorded the image as passed."""
    trailers = [deployed_trailer(service, source)]
    trailers += _images({service: scanned} if scanned else None)
    return _assembled(f"chore({service}): deploy {_image(image)} [skip ci]", "", trailers)


def rollback_message(
    service: str,
    current: str,
    target: str,
    by: str,
    request_id: uuid.UUID,
    source: Source | None,
    environment: str | None = None,
) -> str:
    """`environment`: a later environment than the first, rolled back alone (its trailer
    names it, as a promotion's does)."""
    trailers = [deployed_trailer(service, source, environment)] if source else []
    _checked("service", service, _SERVICE, "a lowercase DNS label")
    current, target = _image(current), _image(target)
    where = _in(environment)
    subject = f"revert({service}): roll back {current} to {target}{where} [skip ci]"
    body = (
        f"\n\nRolled back by {one_line(by) or 'an operator'}: {service} now runs {target} "
        f"instead of {current}{where}.\n"
        f"Automatic deploys of {service}{where} are held until "
        f"`shipline unpin {service}{_option(environment)}`."
    )
    return _assembled(subject, body, [*trailers, f"{REQUEST}: {request_id}"])


def pin_message(
    service: str, image: str, by: str, request_id: uuid.UUID, environment: str | None = None
) -> str:
    """A rollback whose manifest already held the image: only the pin is committed."""
    _checked("service", service, _SERVICE, "a lowercase DNS label")
    where = _in(environment)
    subject = f"chore({service}): pin {_image(image)}{where} [skip ci]"
    body = (
        f"\n\nPinned by {one_line(by) or 'an operator'}: automatic deploys of {service}{where} "
        f"are held until `shipline unpin {service}{_option(environment)}`."
    )
    return _assembled(subject, body, [f"{REQUEST}: {request_id}"])


def unpin_message(
    service: str, image: str, by: str, request_id: uuid.UUID, environment: str | None = None
) -> str:
    _checked("service", service, _SERVICE, "a lowercase DNS label")
    where = _in(environment)
    subject = f"chore({service}): unpin {_image(image)}{where} [skip ci]"
    body = (
        f"\n\nUnpinned by {one_line(by) or 'an operator'}: automatic deploys of "
        f"{service}{where} resume."
    )
    return _assembled(subject, body, [f"{REQUEST}: {request_id}"])


def _in(environment: str | None) -> str:
    """` in <environment>` for a later environment, "" for the first."""
    return (
        f" in {_checked('environment', environment, _SERVICE, 'a DNS label')}"
        if environment
        else ""
    )


def _option(environment: str | None) -> str:
    return f" -e {environment}" if environment else ""


def release_message(
    version: str,
    notes: str,
    deployed: dict[str, Source],
    request_id: uuid.UUID,
    environment: str | None = None,
    scanned: dict[str, tuple[str, str]] | None = None,
) -> str:
    """`notes` as release_notes() writes them: one line per commit subject, already folded.
    `environment`: the later environment with `releases: true` the release is written to.
    `scanned`: service → (image repository, digest) whose passed verdict the admission found."""
    subject = f"release {checked_version(version)} [skip ci]"
    body = f"\n\n{notes.strip()}" if notes.strip() else ""
    trailers = [
        deployed_trailer(service, deployed[service], environment) for service in sorted(deployed)
    ]
    trailers += _images(scanned)
    return _assembled(subject, body, [*trailers, f"{REQUEST}: {request_id}"])


def promotion_message(
    environment: str,
    source_environment: str,
    promoted: dict[str, tuple[str, str, Source]],
    by: str,
    reason: str,
    request_id: uuid.UUID,
    run_id: str = "",
    scanned: dict[str, tuple[str, str]] | None = None,
) -> str:
    """`promoted`: service → (the image the source environment runs, its digest ("" when
    unknown), the source commit it was built from); one commit for them all. `run_id`: named
    in a `Shipline-Run` trailer. `scanned`: service → (image repository, digest) whose
    passed verdict the admission found, each named in a `Shipline-Image` trailer."""
    _checked("environment", environment, _SERVICE, "a DNS label")
    _checked("environment", source_environment, _SERVICE, "a DNS label")
    names = ", ".join(sorted(promoted))
    subject = f"promote({environment}): {names} from {source_environment} [skip ci]"
    lines = []
    for service, (image, digest, source) in sorted(promoted.items()):
        pinned = digest and digest not in image
        named = f"{_image(image)} ({_image(digest)})" if pinned else _image(image)
        lines.append(f"- {service}: {named} built from {source.repository}@{source.commit}")
    why = f" ({one_line(reason)})" if one_line(reason) else ""
    body = (
        f"\n\nPromoted by {one_line(by) or 'an operator'}{why}: {environment} now runs what "
        f"{source_environment} runs.\n" + "\n".join(lines)
    )
    trailers = [
        deployed_trailer(service, source, environment)
        for service, (_, _, source) in sorted(promoted.items())
    ]
    trailers += _images(scanned)
    if run_id:
        trailers.append(f"{RUN}: {_checked('run id', run_id, RUN_ID, 'letters, digits, ._-')}")
    return _assembled(subject, body, [*trailers, f"{REQUEST}: {request_id}"])
