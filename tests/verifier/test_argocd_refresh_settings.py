"""clusters[].argocd_refresh in the server settings: what is accepted, and what is refused
with the reason a person reads at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.common.cluster_settings import ClusterSettings

BASE = {"name": "prod", "kubeconfig": Path("/etc/kubeconfig"), "namespaces": ["shop"]}


def cluster(**changes: object) -> ClusterSettings:
    return ClusterSettings.model_validate({**BASE, **changes})


def test_a_cluster_without_the_setting_leaves_argo_cd_to_its_poll() -> None:
    assert cluster().argocd_refresh is None


def test_the_applications_to_annotate_are_named_in_argo_cds_namespace() -> None:
    refresh = cluster(argocd_refresh={"applications": ["shop", "shop-canary"]}).argocd_refresh

    assert refresh is not None and refresh.applications == ["shop", "shop-canary"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"argocd_refresh": {}}, "name the applications to refresh, or give webhook_url"),
        (
            {"argocd_refresh": {"webhook_url": "https://argocd.example.com/api/webhook"}},
            "webhook_url needs repository_url",
        ),
        (
            {"argocd_refresh": {"applications": ["shop"]}, "argocd_namespace": None},
            "argocd_refresh.applications needs argocd_namespace",
        ),
        ({"argocd_refresh": {"applications": ["Shop_1"]}}, "String should match pattern"),
        ({"argocd_refresh": {"applications": ["shop"], "poll": 3}}, "Extra inputs"),
    ],
)
def test_a_refresh_setting_that_cannot_work_is_refused_with_the_reason(
    changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        cluster(**changes)


def test_the_webhook_secret_is_never_shown() -> None:
    refresh = cluster(
        argocd_refresh={
            "webhook_url": "https://argocd.example.com/api/webhook",
            "webhook_secret": "s3cret-value",
            "repository_url": "https://git.example.com/acme/gitops.git",
        }
    )

    assert "s3cret-value" not in repr(refresh) + str(refresh.model_dump())


def test_the_webhook_secret_may_be_a_file_read_when_it_is_used(tmp_path: Path) -> None:
    secret = tmp_path / "argocd-webhook"
    refresh = cluster(
        argocd_refresh={
            "webhook_url": "https://argocd.example.com/api/webhook",
            "webhook_secret_file": str(secret),
            "repository_url": "https://git.example.com/acme/gitops.git",
        }
    ).argocd_refresh
    secret.write_text("from-the-file\n")

    assert refresh is not None and refresh.webhook_secret is not None
    assert refresh.webhook_secret.get_secret_value() == "from-the-file"
