"""Unpin: a service's pin removed from the gitops branch's pins file, in a commit, so
automatic deploys of it resume; then removed from the Redis cache.

The gateway cannot write git, so `shipline unpin` publishes an UnpinRequested for the
committer. A service that is not pinned in git is answered as such, with no commit; a
redelivered request finds its commit and answers with the pin it removed. An unpin names an
environment (None: the first one) and removes the pin there only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from services.committer.gitops_commit import Change, Finished, GitopsCommits
from services.committer.messages import request_grep, unpin_message
from services.committer.pins_file import PINS_FILE, parse_pins, without_pin
from services.committer.rollback import rolled_back_in
from services.committer.stores import Pins
from services.committer.targets import Target, Targets
from services.common.events import Unpinned, UnpinRequested
from services.common.logging import get_logger
from services.common.pins import Pin


def unpin(
    request: UnpinRequested, targets: Targets, commits: GitopsCommits, pins: Pins
) -> Unpinned:
    target = targets.find(request.repository, targets.head(request.repository))
    environment = rolled_back_in(target.project, request.environment)
    target = target.for_environment(environment or None)  # its own gitops, when it has one
    done = commits.commit(target, UnpinWrite(request, target, environment).prepare)
    # whatever the cache held is stale now
    pins.unpin(target.source.name, request.service, environment)
    get_logger().info(
        "unpinned",
        service=request.service,
        environment=environment or None,
        was=done.image,
        commit=done.gitops_commit,
    )
    return done


@dataclass(frozen=True)
class UnpinWrite:
    request: UnpinRequested
    target: Target
    environment: str = ""  # the pins' name of it: "" the first one

    def prepare(self) -> Change[Unpinned] | Finished[Unpinned]:
        request, checkout = self.request, self.target.checkout
        where = f"{PINS_FILE} on {checkout.branch}"
        earlier = checkout.log(".", grep=request_grep(request.event_id), limit=1)
        if earlier:  # a redelivery: the pin was removed by this request's commit
            before = checkout.read_at(f"{earlier[0].sha}^", PINS_FILE)
            pin = parse_pins(before, where, self.environment).get(self._key)
            return Finished(self.unpinned(pin, earlier[0].sha))
        text, removed = without_pin(
            checkout.read(PINS_FILE), *self._key, where=where, environment=self.environment
        )
        if removed is None:
            return Finished(self.unpinned(None, ""))
        checkout.write(PINS_FILE, text)
        message = unpin_message(
            request.service,
            removed.image,
            request.requested_by,
            request.event_id,
            self.environment or None,
        )
        return Change([PINS_FILE], message, partial(self.unpinned, removed))

    def unpinned(self, pin: Pin | None, sha: str) -> Unpinned:
        request = self.request
        return Unpinned(
            event_id=request.follow_up_id("Unpinned"),
            run_id=request.run_id,
            service=request.service,
            repository=self.target.source.name,
            image=pin.image if pin else "",
            pinned_by=pin.by if pin else "",
            rollback_run_id=pin.run_id if pin else "",
            gitops_repository=self.target.gitops.name,
            gitops_commit=sha,
            branch=self.target.checkout.branch,
            environment=self.environment or None,
        )

    @property
    def _key(self) -> tuple[str, str]:
        return (self.target.source.name, self.request.service)
