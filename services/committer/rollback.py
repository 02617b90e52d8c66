"""Rollback: one service back to an earlier image (the one before the current, or a named
tag), pinned in the same commit (the gitops branch's pins file, pins_file.py), so automatic
deploys hold until `shipline unpin`; the pin is cached in Redis once committed.

A rollback names an environment (None: the first one, as before environments): it writes
that environment's manifest and pins the service there only, so a rollback in production
leaves staging deploying. A later environment with its own `gitops:` is rolled back and
pinned on its own branch (its manifest's history, its pins file there), and the commit's
trailer names it (`... in production`).

Which image is earlier is read from the manifest's own history on the gitops branch
(rollback_history.py); the commit names the source commit that image was built from, when
a deploy recorded it. A redelivered request finds its commit and writes nothing more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from services.committer.deploy import pin_in_git
from services.committer.formats import read_image
from services.committer.gitops_commit import Change, Finished, GitopsCommits
from services.committer.images import ImageRef
from services.committer.manifest_edit import edit_manifest, read_manifest
from services.committer.messages import (
    Deployed,
    deployed_from,
    pin_message,
    request_grep,
    rollback_message,
)
from services.committer.pins_file import PINS_FILE, parse_pins, same_pin, with_pin
from services.committer.rollback_history import Version, previous_image, provenance
from services.committer.stores import Pins
from services.committer.targets import Target, Targets
from services.committer.yamlsplice import ManifestError
from services.common.errors import PermanentError
from services.common.events import ManifestCommitted, RollbackRequested, Source
from services.common.git import CommitInfo
from services.common.git_checkout import Checkout
from services.common.pins import Pin, pin_environment
from services.common.project import Project, ServiceSpec
from services.common.rollout_environment import Rollout, failed_environment
from services.common.safe_files import UnsafePath
from services.detector.environment_runs import newest_in

HISTORY_LIMIT = 200  # manifest versions a rollback looks back through


def rollback(
    request: RollbackRequested,
    targets: Targets,
    commits: GitopsCommits,
    pins: Pins,
    only_from: str | None = None,
    failed_in: Rollout | None = None,
) -> ManifestCommitted:
    """`only_from`: roll back only while the manifest still holds this image (an automatic
    rollback must not revert a newer deploy that replaced the failed one); `failed_in`: the
    rollout that failed (an automatic rollback acts in its environment: by its gitops
    repository, branch and manifest path)."""
    head = targets.head(request.repository)
    target = targets.find(request.repository, head)
    spec = target.spec(request.service)
    named = request.environment or (
        failed_environment(target.project, failed_in) if failed_in else None
    )
    environment = rolled_back_in(target.project, named)
    target = target.for_environment(environment or None)  # its own gitops, when it has one
    write = RollbackWrite(
        request=request,
        target=target,
        head=head,
        spec=spec,
        path=target.project.manifest_path(request.service, environment or None),
        repository=target.project.image_repository(request.service),
        pins=pins,
        only_from=only_from,
        environment=environment,
    )
    return commits.commit(target, write.prepare)


def rolled_back_in(project: Project, name: str | None) -> str:
    """The pins' name of the environment a rollback acts in ("": the first one); a
    ConfigError (permanent) for an unknown name."""
    return pin_environment(project, name)


@dataclass(frozen=True)
class RollbackWrite:
    request: RollbackRequested
    target: Target
    head: str  # the source repository's default branch head the request was resolved at
    spec: ServiceSpec
    path: str
    repository: str  # the service's image repository
    pins: Pins
    only_from: str | None
    environment: str = ""  # "": the first one; else a later one, whose pin holds it alone

    def prepare(self) -> Change[ManifestCommitted] | Finished[ManifestCommitted]:
        request, checkout, path = self.request, self.target.checkout, self.path
        text = read_manifest(checkout, path)
        current = self._image(text)
        history = manifest_history(
            checkout, path, request.service, self.spec, self.repository, self.environment
        )
        earlier = checkout.log(".", grep=request_grep(request.event_id), limit=1)
        if earlier:  # a redelivery: the rollback is committed already
            before = checkout.read_at(f"{earlier[0].sha}^", path) or text
            built = provenance(history, current)
            pin = pin_in_git(self.target, request.service, self.environment)  # None: unpinned
            return Finished(
                self.committed(self._image(before), current, built, pin, earlier[0].sha)
            )
        if self.only_from is not None and current != self.only_from:
            raise PermanentError(
                f"not rolled back: {path} now holds {current}, not the failed {self.only_from}"
            )
        edit = edit_manifest(text, request.service, self.spec, self._wanted(current, history), path)
        new = self._image(edit.text)
        built = provenance(history, new)
        pin, paths = self._pin(new), []
        if edit.changed:
            checkout.write(path, edit.text)
            paths.append(path)
        if pin is not None:
            paths.append(PINS_FILE)
        pin = pin or pin_in_git(self.target, request.service, self.environment)
        if not paths:
            sha = checkout.last_commit_touching(path)
            return Finished(self.committed(current, new, built, pin, sha))
        built_from = (
            Source(repository=built.repository, commit=built.commit, ref=self._ref)
            if built
            else None
        )
        by, request_id, named = request.requested_by, request.event_id, self.environment or None
        message = (
            rollback_message(request.service, current, new, by, request_id, built_from, named)
            if edit.changed
            else pin_message(request.service, new, by, request_id, named)
        )
        return Change(paths, message, partial(self.committed, current, new, built, pin))

    def _pin(self, image: str) -> Pin | None:
        """Writes the pin on `image` into the pins file and returns it; None when the file
        holds it already."""
        request, checkout = self.request, self.target.checkout
        where = f"{PINS_FILE} on {checkout.branch}"
        text = checkout.read(PINS_FILE)
        pin = Pin(
            self.target.source.name,
            request.service,
            image,
            request.requested_by,
            request.run_id,
            time.time(),
            self.environment,
        )
        held = parse_pins(text, where, self.environment).get((pin.repository, pin.service))
        if same_pin(held, pin):
            return None
        checkout.write(PINS_FILE, with_pin(text, pin, where))
        return pin

    def committed(
        self, old: str, new: str, built: Deployed | None, pin: Pin | None, sha: str
    ) -> ManifestCommitted:
        """Caches the pin the commit holds, and says what was committed."""
        request, source = self.request, self.target.source
        if pin is not None:
            self.pins.put(pin)
        commit = built.commit if built and built.repository == source.name else self.head
        return ManifestCommitted(
            event_id=request.follow_up_id("ManifestCommitted"),
            run_id=request.run_id,
            service=request.service,
            source=Source(repository=source.name, commit=commit, ref=self._ref),
            manifest_path=self.path,
            old_image=old,
            new_image=new,
            gitops_repository=self.target.gitops.name,
            gitops_commit=sha,
            branch=self.target.checkout.branch,
            kind="rollback",
            cluster=self._cluster,
        )

    def _wanted(self, current: str, history: list[Version]) -> ImageRef:
        request = self.request
        if request.to:
            base = ImageRef.parse(current).repository
            return ImageRef(base, request.to, request.digest, self.spec.pin_digest)
        return ImageRef.parse(previous_image(history, current).image)

    def _image(self, text: str) -> str:
        return read_image(text, self.request.service, self.spec, self.repository)

    @property
    def _cluster(self) -> str | None:
        """The environment's own `cluster:`, else the one serving its gitops branch."""
        project = self.target.project
        own = project.environment(self.environment).cluster if self.environment else None
        return own or self.target.cluster

    @property
    def _ref(self) -> str:
        return f"refs/heads/{self.target.source.default_branch}"


def manifest_history(
    checkout: Checkout,
    path: str,
    service: str,
    spec: ServiceSpec,
    repository: str,
    environment: str = "",
) -> list[Version]:
    """The images `path` held, newest first, back to where it cannot be read; where each
    came from, by the trailers of `environment` ("": the first one's)."""
    versions = []
    for info in checkout.log(path, limit=HISTORY_LIMIT):
        try:
            text = checkout.read_at(info.sha, path)
        except UnsafePath:
            break  # a symbolic link then: no version to roll back to beyond it
        if text is None:
            break  # the file did not exist before
        try:
            image = read_image(text, service, spec, repository)
        except ManifestError:
            break  # an older layout of the file: nothing to roll back to beyond it
        versions.append(Version(info.sha, image, _deployed(info, service, environment)))
    return versions


def _deployed(info: CommitInfo, service: str, environment: str) -> Deployed | None:
    if not environment:
        return deployed_from(info.message, service)
    found = newest_in([info], environment).get(service)
    return Deployed(found.repository, found.commit) if found else None
