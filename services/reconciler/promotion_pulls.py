"""Promotions' pull requests re-read from their host, so none waits forever on a webhook that
never came (not configured, lost, or a host whose merge-request hook Shipline does not read).

Once a minute at most, the leader asks the host about each open promotion pull request
(services/common/promotion_pulls.py); one merged or closed gets the PullRequestClosed its
webhook would have queued, with the same event id, so a webhook arriving too changes nothing.
A host that cannot be asked now is asked again next time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.common.bus import Bus
from services.common.errors import ShiplineError
from services.common.logging import get_logger
from services.common.promotion_pulls import PendingPromotion, PromotionPulls, closed_event
from services.common.repository_settings import GitHost
from services.common.settings import Settings
from services.githost import PullRequests, PullRequestState, pull_requests_for

CHECK_SECONDS = 60.0


class PromotionPullCheck:
    def __init__(
        self,
        settings: Settings,
        store: PromotionPulls,
        bus: Bus,
        *,
        hosts: Callable[[GitHost, str], PullRequests] = pull_requests_for,
        every: float = CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings, self._store, self._bus = settings, store, bus
        self._hosts, self._every, self._clock = hosts, every, clock
        self._next = 0.0

    def pass_once(self, leading: Callable[[], bool]) -> int:
        """Asks the host about each open promotion pull request when due: how many closed."""
        now = self._clock()
        if now < self._next:
            return 0
        self._next = now + self._every
        closed = 0
        for pending in self._store.open():
            if not leading():
                break
            closed += self._check(pending)
        return closed

    def _check(self, pending: PendingPromotion) -> int:
        entry = self._settings.git_remote(pending.gitops_repository)
        if entry is None or entry.host is None:
            return 0
        log = get_logger(component="reconciler", run_id=pending.run_id)
        try:
            pull = self._hosts(entry.host, entry.name).get(pending.number)
        except ShiplineError as exc:
            log.warning("promotion pull request not read", number=pending.number, error=str(exc))
            return 0
        if pull.state is PullRequestState.OPEN:
            return 0
        merged = pull.state is PullRequestState.MERGED
        self._bus.publish(closed_event(pending, merged, pull.merge_commit_sha, via="host"))
        log.info("promotion pull request closed, read from the host", merged=merged)
        return 1
