"""Benchmark: push-to-healthy with the Argo CD refresh after each manifest commit, against
Argo CD finding the commit at its poll.

No Kubernetes or Argo CD can run here, so the verifier's real handler (services/verifier/
task.py, with its real `kubernetes` client and watches) works against the stand-in API server
of tests/verifier/fake_apiserver.py, and a simulated Argo CD controller
(tests/verifier/argo_controller.py) syncs the Application and rolls the Deployment out when
the refresh annotation appears, or otherwise at its poll, every 3 s standing for Argo CD's
default 180 s (`timeout.reconciliation`). Each round commits a new image at a random moment
of the poll cycle (a real commit lands at any point of it) and takes the verdict's `seconds`,
the figure the verifier records as push-to-healthy (here the build is 0: the run starts at
the commit). The sides alternate round by round; medians and their ratio (refresh / poll).
At 180 s the poll side's figure is 60 times longer; the refresh side's is not scaled.

    python -m bench.bench_argocd_sync --rounds 5
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.figures import Figure, Target, alternate, print_figure
from services.common.cluster_settings import ArgoCDRefresh, ClusterSettings
from services.common.events import DeploymentVerified, ManifestCommitted, Source
from services.common.logging import configure_logging
from services.common.settings import Settings
from services.verifier.task import make_handler
from services.verifier.watches import Watches
from tests.verifier.argo_controller import SimulatedArgoCD
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import ARGOCD, NAMESPACE, application, deployment

POLL_SECONDS = 3.0  # stands for Argo CD's 180 s
REAL_POLL_SECONDS = 180.0
IMAGE = "registry.example.com/microbank/cart"
TARGET = Target(0.2)  # the refresh takes a commit to healthy in a fifth of the poll's time


class NoRuns:
    """The run store's answer for a run it never saw: the verifier then counts from the
    commit, so push-to-healthy here is the commit's (no build)."""

    def get(self, _run_id: str) -> None:
        return None

    def created_at(self, _run_id: str) -> None:
        return None


def cluster(kubeconfig: Path, refresh: ArgoCDRefresh | None) -> ClusterSettings:
    return ClusterSettings(
        name="bench",
        kubeconfig=kubeconfig,
        namespaces=[NAMESPACE],
        argocd_namespace=ARGOCD,
        deadline_seconds=int(POLL_SECONDS * 10),
        argocd_refresh=refresh,
    )


def handler(
    watches: Watches, settings: ClusterSettings, git: SimulatedArgoCD
) -> Callable[[ManifestCommitted], Any]:
    runtime = SimpleNamespace(settings=Settings(clusters=[settings]), runs=NoRuns())
    return make_handler(runtime, watches, git)  # type: ignore[arg-type]


def one_commit(handle: Callable[[ManifestCommitted], Any], git: SimulatedArgoCD) -> float:
    """Commit a new image at a random moment of the poll cycle; its push-to-healthy."""
    time.sleep(random.uniform(0, POLL_SECONDS))
    commit, tag = uuid.uuid4().hex + uuid.uuid4().hex[:8], uuid.uuid4().hex[:7]
    event = ManifestCommitted(
        run_id=f"bench-{tag}",
        service="cart",
        source=Source(repository="acme/microbank", commit="a" * 40, ref="refs/heads/main"),
        manifest_path="k8s/cart.yaml",
        old_image="",
        new_image=f"{IMAGE}:sha-{tag}",
        gitops_repository="acme/microbank",
        gitops_commit=commit,
        branch="main",
        cluster="bench",
    )
    git.commit(commit, event.new_image)
    (verdict,) = handle(event)
    if not isinstance(verdict, DeploymentVerified):
        raise RuntimeError(f"the rollout was not verified: {verdict}")
    return float(verdict.seconds)


def argocd_sync(rounds: int) -> list[Figure]:
    apiserver = FakeApiServer().start()
    git = SimulatedArgoCD(apiserver, "microbank", "cart", POLL_SECONDS)
    apiserver.put("deployments", deployment("cart", f"{IMAGE}:sha-0000000", generation=1))
    apiserver.put("applications", application("microbank", ["cart"]))
    with tempfile.TemporaryDirectory(prefix="bench-argocd-") as tmp:
        kubeconfig = apiserver.kubeconfig(Path(tmp) / "kubeconfig")
        polled = cluster(kubeconfig, None)
        refreshed = cluster(kubeconfig, ArgoCDRefresh(applications=["microbank"]))
        watches = Watches([polled])
        watches.start()
        git.start()
        with_refresh, without = handler(watches, refreshed, git), handler(watches, polled, git)
        try:
            refresh, poll = alternate(
                rounds,
                [lambda: one_commit(with_refresh, git), lambda: one_commit(without, git)],
            )
        finally:
            git.stop()
            watches.close()
            apiserver.stop()
    causes = {sync.cause for sync in git.syncs}
    if not {"refresh annotation", "poll"} <= causes:
        raise RuntimeError(f"the simulated Argo CD synced only by {causes}")
    scale = f"poll every {POLL_SECONDS:g} s standing for {REAL_POLL_SECONDS:g} s"
    figure = Figure(
        "argosync",
        "push → healthy, refresh annotation",
        "s",
        refresh,
        f"Argo CD's poll ({scale})",
        poll,
        TARGET,
        "the loopback API server's watch latency (refresh); half the poll interval on "
        f"average (poll: about {REAL_POLL_SECONDS / 2:g} s on a real cluster)",
    )
    print_figure(figure)
    return [figure]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="commits per side")
    options = parser.parse_args(argv)
    configure_logging("console", "WARNING")
    [figure] = argocd_sync(options.rounds)
    scaled = (figure.baseline_median or 0) * REAL_POLL_SECONDS / POLL_SECONDS
    print(
        f"poll every {POLL_SECONDS:g} s stands for Argo CD's {REAL_POLL_SECONDS:g} s: at that"
        f" interval the poll side's median is about {scaled:.0f} s"
    )
    print(f"ratio refresh / poll: {figure.ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
