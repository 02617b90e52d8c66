"""Automatic rollback: a rollout the verifier found failed goes back to the previous image.

The existing rollback flow does the work (the image before the failed one, the revert
commit, the pin that holds automatic deploys); the commit it returns names the failure it
answers, so the run's summary says what failed and what was restored.
"""

from __future__ import annotations

from services.committer.writeback import GitopsWriter
from services.common.events import DeploymentFailed, ManifestCommitted, RollbackRequested
from services.common.rollout_environment import Rollout

REQUESTED_BY = "shipline (automatic rollback)"


def rollback_request(failed: DeploymentFailed) -> RollbackRequested:
    return RollbackRequested(
        event_id=failed.follow_up_id("RollbackRequested"),
        run_id=failed.run_id,
        service=failed.service,
        repository=failed.source.repository,
        requested_by=REQUESTED_BY,
    )


def roll_back(writer: GitopsWriter, failed: DeploymentFailed) -> ManifestCommitted:
    # in the environment whose rollout failed (its gitops repository, branch and manifest):
    # a production rollout's never touches staging, even where both write the same path
    rollout = Rollout(
        service=failed.service,
        source_repository=failed.source.repository,
        manifest_path=failed.manifest_path,
        gitops_repository=failed.gitops_repository,
        branch=failed.branch,
    )
    committed = writer.rollback(rollback_request(failed), only_from=failed.image, failed_in=rollout)
    return committed.model_copy(
        update={
            "event_id": failed.follow_up_id("ManifestCommitted", "auto-rollback"),
            "rollback_of": f"{failed.image} failed in {failed.cluster}: {failed.reason}",
        }
    )
