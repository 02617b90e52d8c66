"""Deploy: one scanned image of one service into its manifest, one commit.

An automatic deploy is decided on the gitops head (decide.py): held while the service is
pinned in the branch's pins file (pins_file.py; git decides, the Redis cache only follows),
superseded when the image was built from an ancestor of the deployed commit. A
manual deploy (`shipline deploy`) does what it was asked. Either way the outcome is an event:
the commit, or why nothing was written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from services.committer.decide import Decision, Proceed, Superseded, decide
from services.committer.formats import read_image
from services.committer.gitops_commit import Change, Finished, GitopsCommits
from services.committer.images import ImageRef
from services.committer.manifest_edit import edit_manifest, read_manifest
from services.committer.messages import (
    deploy_message,
    deployed_from,
    deployed_grep,
    scanned_image,
)
from services.committer.pins_file import PINS_FILE, parse_pins
from services.committer.stores import Pins, RunFacts
from services.committer.targets import Target, Targets
from services.common.events import (
    DeploymentSkipped,
    Envelope,
    ManifestCommitted,
    ScanPassed,
    Source,
)
from services.common.git import Mirror
from services.common.logging import get_logger
from services.common.pins import Pin
from services.common.project import ServiceSpec

Ancestry = Callable[[str, str], bool]  # (older, newer): whether older is an ancestor
MANUAL_TRIGGERS = frozenset({"deploy"})  # runs whose deploys bypass the pin and ancestry

Deploy = ManifestCommitted | DeploymentSkipped


def deploy(
    scan: ScanPassed,
    targets: Targets,
    commits: GitopsCommits,
    pins: Pins,
    runs: RunFacts,
    passed: bool = False,
) -> Deploy:
    """`passed`: the scanner's passed verdict for the image was found: the commit names the
    image by digest (`Shipline-Image`), the verdict's evidence in git."""
    target = targets.find(scan.source.repository, scan.source.commit)
    spec = target.spec(scan.service)
    image = ImageRef(scan.image_repository, scan.tags[0], scan.digest, spec.pin_digest)
    write = DeployWrite(
        scan=scan,
        target=target,
        spec=spec,
        path=target.project.manifest_path(scan.service),
        image=image,
        manual=runs.trigger(scan.run_id) in MANUAL_TRIGGERS,
        pins=pins,
        passed=passed,
    )
    return commits.commit(target, write.prepare)


@dataclass(frozen=True)
class DeployWrite:
    scan: ScanPassed
    target: Target
    spec: ServiceSpec
    path: str
    image: ImageRef
    manual: bool
    pins: Pins
    passed: bool = False

    def prepare(self) -> Change[Deploy] | Finished[Deploy]:
        scan, checkout, path = self.scan, self.target.checkout, self.path
        text = read_manifest(checkout, path)
        decision = deploy_decision(
            self.target, self.pins, scan.source, scan.service, path, self.manual
        )
        if not isinstance(decision, Proceed):
            current = read_image(text, scan.service, self.spec, scan.image_repository)
            return Finished(
                skipped(scan, scan.source, scan.service, str(self.image), decision, current)
            )
        edit = edit_manifest(text, scan.service, self.spec, self.image, path)
        if not edit.changed:
            get_logger(manifest=path).info(
                "manifest already holds the image", image=str(self.image)
            )
            return Finished(self.committed(edit.old_image, checkout.last_commit_touching(path)))
        checkout.write(path, edit.text)
        scanned = scanned_image(scan.image_repository, scan.digest) if self.passed else None
        message = deploy_message(scan.service, str(self.image), scan.source, scanned)
        return Change([path], message, partial(self.committed, edit.old_image))

    def committed(self, old_image: str, sha: str) -> ManifestCommitted:
        scan = self.scan
        return ManifestCommitted(
            event_id=scan.follow_up_id("ManifestCommitted"),
            run_id=scan.run_id,
            service=scan.service,
            source=scan.source,
            manifest_path=self.path,
            old_image=old_image,
            new_image=str(self.image),
            digest=scan.digest,
            gitops_repository=self.target.gitops.name,
            gitops_commit=sha,
            branch=self.target.checkout.branch,
            cluster=self.target.cluster,
            auto_rollback=self.spec.auto_rollback,
        )


def deploy_decision(
    target: Target,
    pins: Pins,
    source: Source,
    service: str,
    path: str,
    manual: bool,
    ancestry: Ancestry | None = None,
) -> Decision:
    """decide() on the facts of the gitops head: the last deploy of `service` in `path`,
    its pin in the pins file, and the source mirror's ancestry (`ancestry`: how it is asked,
    e.g. remembered across a release's services; None: is_ancestor_fetched). A pin read from
    git is cached too, so the gateway shows it even after Redis lost the cache."""
    last = target.checkout.log(path, grep=deployed_grep(service), limit=1)
    deployed = deployed_from(last[0].message, service) if last else None
    pin = pin_in_git(target, service)
    if pin is not None and not manual:
        pins.put(pin)
    ancestry = ancestry or partial(is_ancestor_fetched, target.mirror)
    return decide(source, deployed, pin, manual, ancestry)


def pin_in_git(target: Target, service: str, environment: str = "") -> Pin | None:
    """The service's pin in the gitops checkout's pins file (synced to the head), in
    `environment` ("": the first one, where deploys land)."""
    where = f"{PINS_FILE} on {target.checkout.branch}"
    pins = parse_pins(target.checkout.read(PINS_FILE), where, environment)
    return pins.get((target.source.name, service))


def is_ancestor_fetched(mirror: Mirror, older: str, newer: str) -> bool:
    """Whether `older` is an ancestor of `newer`, fetching first when `newer` is not known."""
    if not mirror.has_commit(newer):
        mirror.fetch()
    return mirror.is_ancestor(older, newer)


def skipped(
    cause: Envelope, source: Source, service: str, image: str, decision: Decision, current: str
) -> DeploymentSkipped:
    get_logger().info("deploy skipped", image=image, why=getattr(decision, "reason", ""))
    return DeploymentSkipped(
        event_id=cause.follow_up_id("DeploymentSkipped", service),
        run_id=cause.run_id,
        service=service,
        source=source,
        image=image,
        outcome="superseded" if isinstance(decision, Superseded) else "held",
        reason=getattr(decision, "reason", ""),
        deployed_image=current,
    )
