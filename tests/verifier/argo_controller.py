"""A simulated Argo CD application controller on the stand-in API server
(tests/verifier/fake_apiserver.py): no Argo CD can run here, so this plays its part.

It knows what git holds (:meth:`SimulatedArgoCD.commit`) and syncs one Application to it,
as Argo CD does with automated sync: when the Application carries the annotation
`argocd.argoproj.io/refresh` (which it then removes, as Argo CD does), when its webhook
is called (:meth:`SimulatedArgoCD.webhook`), or otherwise at its next poll, every
`poll_seconds` from its start (Argo CD's `timeout.reconciliation`, 180 s by default). A sync
marks the Application Synced and Healthy at the commit and the Deployment rolled out with
the image, with a pod running it. Its branch history answers the verifier's ancestry
questions (:meth:`SimulatedArgoCD.contains`), as the gitops repository's mirror would.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import ARGOCD, application, deployment, pod

REFRESH = "argocd.argoproj.io/refresh"


@dataclass(frozen=True)
class Sync:
    commit: str
    image: str
    cause: str  # "refresh annotation", "webhook" or "poll"
    at: float  # time.time()


class SimulatedArgoCD:
    def __init__(
        self, apiserver: FakeApiServer, app: str, workload: str, poll_seconds: float
    ) -> None:
        self._apiserver, self.app, self.workload = apiserver, app, workload
        self.poll_seconds = poll_seconds
        self._git: tuple[str, str] | None = None  # (commit, image) the branch holds
        self._history: list[str] = []  # the branch's commits, oldest first
        self._synced: tuple[str, str] | None = None
        self._generation = 1
        self._woken = threading.Event()
        self._webhook_called = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-argocd", daemon=True)
        self.syncs: list[Sync] = []

    def start(self) -> SimulatedArgoCD:
        self._next_poll = time.monotonic() + self.poll_seconds
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._woken.set()
        self._thread.join(timeout=5)

    def commit(self, commit: str, image: str) -> None:
        """The gitops branch now holds `commit`, which runs `image`."""
        self._history.append(commit)
        self._git = (commit, image)

    def contains(self, _repository: str, commit: str, revision: str) -> bool:
        """Git's answer for the verifier (services/verifier/revisions.py): is `revision`
        `commit` or a descendant of it, on this linear branch?"""
        history = self._history
        return commit in history and revision in history[history.index(commit) :]

    def webhook(self) -> None:
        """Argo CD's /api/webhook was called for the branch: refresh at once."""
        self._webhook_called = True
        self._woken.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._woken.wait(0.02)  # how often the stand-in looks at its Application
            self._woken.clear()
            cause = self._cause()
            if cause is not None:
                self._sync(cause)

    def _cause(self) -> str | None:
        found = self._apiserver.get("applications", ARGOCD, self.app) or {}
        annotations = found.get("metadata", {}).get("annotations") or {}
        if REFRESH in annotations:
            return "refresh annotation"
        if self._webhook_called:
            self._webhook_called = False
            return "webhook"
        if time.monotonic() >= self._next_poll:
            while self._next_poll <= time.monotonic():
                self._next_poll += self.poll_seconds
            return "poll"
        return None

    def _sync(self, cause: str) -> None:
        git = self._git
        if git is None or git == self._synced:
            if cause == "refresh annotation":  # refreshed, nothing new: the annotation goes
                self._put_application(self._synced[0] if self._synced else "")
            return
        commit, image = git
        self._generation += 1
        self._put_application(commit, health="Progressing")
        rolled_out = deployment(self.workload, image, generation=self._generation)
        self._apiserver.put("deployments", rolled_out)
        self._apiserver.put(
            "pods", pod(f"{self.workload}-{self._generation}", self.workload, image)
        )
        self._put_application(commit)
        self._synced = git
        self.syncs.append(Sync(commit, image, cause, time.time()))

    def _put_application(self, revision: str, health: str = "Healthy") -> None:
        synced = application(self.app, [self.workload], revision=revision, health=health)
        self._apiserver.put("applications", synced)
