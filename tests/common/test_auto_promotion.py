"""`approval: auto`, the decision: which promotions the end of a rollout in an environment
asks for (services/common/auto_promotion.py)."""

from __future__ import annotations

import uuid

from services.common.auto_promotion import REQUESTED_BY, auto_promotions
from services.common.events import (
    DeploymentFailed,
    DeploymentVerified,
    Envelope,
    ManifestCommitted,
    Source,
)
from services.common.project import Project, parse_project

SOURCE = Source(repository="acme/shop", commit="a" * 40, ref="refs/heads/main")
GITOPS_COMMIT = "b" * 40
OLD, NEW = "reg.example.com/acme/api:sha-1111111", "reg.example.com/acme/api:sha-2222222"


def project(environments: str) -> Project:
    return parse_project(
        "registry: reg.example.com/acme\n"
        f"environments:\n{environments}"
        "services:\n"
        "  api:\n"
        "    path: api/\n"
        "    manifest: k8s/overlays/{environment}/api.yaml\n"
    )


STAGING_THEN_AUTO = """\
  - name: staging
  - name: production
    from: staging
    approval: auto
"""


def committed(environment: str = "staging", **fields: object) -> ManifestCommitted:
    values: dict[str, object] = {
        "run_id": "r1",
        "service": "api",
        "source": SOURCE,
        "manifest_path": f"k8s/overlays/{environment}/api.yaml",
        "old_image": OLD,
        "new_image": NEW,
        "gitops_repository": "acme/shop",
        "gitops_commit": GITOPS_COMMIT,
        "branch": "main",
    }
    return ManifestCommitted.model_validate(values | fields)


def verified(
    cluster: str, manifest_path: str = "k8s/overlays/staging/api.yaml"
) -> DeploymentVerified:
    return DeploymentVerified(
        run_id="r1",
        service="api",
        source=SOURCE,
        image=NEW,
        cluster=cluster,
        gitops_commit=GITOPS_COMMIT,
        manifest_path=manifest_path,
        seconds=12.0,
    )


def targets(found: Project, event: Envelope, clusters: dict[str, str | None]) -> list[str]:
    return [p.request.environment for p in auto_promotions(found, event, clusters)]


def test_without_a_cluster_the_commit_to_staging_promotes_to_the_auto_environment() -> None:
    [promotion] = auto_promotions(project(STAGING_THEN_AUTO), committed(), {})

    request = promotion.request
    assert (request.repository, request.services, request.environment) == (
        "acme/shop",
        ("api",),
        "production",
    )
    assert request.requested_by == REQUESTED_BY
    assert NEW in request.reason and "committed in staging" in request.reason
    assert promotion.soak_seconds == 0


def test_a_redelivered_commit_asks_for_the_same_promotion_with_the_same_ids() -> None:
    event = committed()
    first = auto_promotions(project(STAGING_THEN_AUTO), event, {})[0].request
    again = auto_promotions(project(STAGING_THEN_AUTO), event, {})[0].request
    other_commit = auto_promotions(
        project(STAGING_THEN_AUTO), committed(gitops_commit="c" * 40), {}
    )[0].request

    assert (first.event_id, first.run_id, first.occurred_at) == (
        again.event_id,
        again.run_id,
        again.occurred_at,
    )
    assert other_commit.event_id != first.event_id
    assert first.occurred_at == event.occurred_at  # the soak counts from the landing


def test_with_a_cluster_the_commit_promotes_nothing_and_the_verification_does() -> None:
    config = project(STAGING_THEN_AUTO)
    clusters: dict[str, str | None] = {"staging": "stage", "production": None}

    assert targets(config, committed(cluster="stage"), clusters) == []
    assert targets(config, verified("stage"), clusters) == ["production"]
    [promotion] = auto_promotions(config, verified("stage"), clusters)
    assert "verified healthy in staging" in promotion.request.reason
    assert targets(config, verified("stage", "k8s/overlays/production/api.yaml"), clusters) == []


def test_a_failed_rollout_never_promotes() -> None:
    failed = DeploymentFailed(
        run_id="r1",
        service="api",
        source=SOURCE,
        image=NEW,
        cluster="stage",
        gitops_commit=GITOPS_COMMIT,
        condition="CrashLoopBackOff",
        reason="crashing",
    )

    assert targets(project(STAGING_THEN_AUTO), failed, {"staging": "stage"}) == []


def test_a_verification_in_a_cluster_two_environments_share_is_told_by_its_manifest() -> None:
    config = project(STAGING_THEN_AUTO)
    shared: dict[str, str | None] = {"staging": "one", "production": "one"}
    own: dict[str, str | None] = {"staging": "stage", "production": "prod"}

    assert targets(config, verified("one"), shared) == ["production"]
    assert targets(config, verified("one", manifest_path=""), shared) == []  # cannot tell
    assert targets(config, verified("stage", manifest_path=""), own) == ["production"]


def test_the_soak_travels_with_the_promotion() -> None:
    config = project(STAGING_THEN_AUTO + "    soak_seconds: 600\n")

    [promotion] = auto_promotions(config, committed(), {})

    assert promotion.soak_seconds == 600


def test_an_auto_environment_written_by_pull_request_is_asked_like_any_other() -> None:
    config = project(
        STAGING_THEN_AUTO.replace("approval: auto", "approval: auto\n    write: pull-request")
    )

    assert targets(config, committed(), {}) == ["production"]  # the committer opens the PR


def test_a_service_pinned_in_the_auto_environment_is_not_asked_for() -> None:
    config = project(STAGING_THEN_AUTO)

    assert auto_promotions(config, committed(), {}, pinned={("production", "api")}) == []
    assert targets(config, committed(), {}) == ["production"]


def test_manual_and_pull_request_environments_are_left_alone() -> None:
    for approval in ("manual", "pull-request"):
        config = project(STAGING_THEN_AUTO.replace("approval: auto", f"approval: {approval}"))
        assert targets(config, committed(), {}) == [], approval


def test_only_the_environments_promoted_from_where_it_landed_are_asked() -> None:
    config = project(
        STAGING_THEN_AUTO
        + "  - name: qa\n    from: staging\n    approval: auto\n"
        + "  - name: dr\n    from: production\n    approval: auto\n"
    )

    assert targets(config, committed(), {}) == ["production", "qa"]
    assert targets(config, committed("production"), {}) == ["dr"]
    ids = {p.request.event_id for p in auto_promotions(config, committed(), {})}
    assert len(ids) == 2


def test_a_rollback_a_commit_of_nothing_new_or_an_unknown_path_promotes_nothing() -> None:
    config = project(STAGING_THEN_AUTO)

    assert targets(config, committed(kind="rollback"), {}) == []
    assert targets(config, committed(rollback_of=str(uuid.uuid4())), {}) == []
    assert targets(config, committed(old_image=NEW), {}) == []
    assert targets(config, committed(manifest_path="elsewhere/api.yaml"), {}) == []
    assert targets(config, committed(branch="other"), {}) == []


def test_without_environments_nothing_is_promoted() -> None:
    config = parse_project("registry: reg.example.com/acme\nservices:\n  api: {path: api/}\n")
    plain = committed(manifest_path="k8s/manifests/api/deployment.yaml")

    assert auto_promotions(config, plain, {}) == []
    assert auto_promotions(config, verified("prod"), {"staging": "prod"}) == []
