"""Server settings `clusters`: where rollouts are verified, per gitops repository and branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.common.settings import load_settings


def cluster(**fields: object) -> dict[str, object]:
    return {
        "name": "prod",
        "kubeconfig": "/etc/shipline/kubeconfig",
        "namespaces": ["shop"],
    } | fields


def test_a_commit_is_verified_in_the_first_cluster_that_runs_its_gitops_branch() -> None:
    settings = load_settings(
        clusters=[
            cluster(name="staging", branch="staging"),
            cluster(name="prod", gitops_repository="acme/gitops"),
            cluster(name="any", in_cluster=True, kubeconfig=None),
        ]
    )

    assert settings.cluster_for("acme/gitops", "staging").name == "staging"  # type: ignore[union-attr]
    assert settings.cluster_for("acme/gitops", "main").name == "prod"  # type: ignore[union-attr]
    assert settings.cluster_for("acme/shop", "main").name == "any"  # type: ignore[union-attr]
    assert load_settings().cluster_for("acme/shop", "main") is None
    assert settings.stage_concurrency("verifier") == 16


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kubeconfig": None}, r"clusters.0: .*give kubeconfig \(a file\) or in_cluster: true"),
        ({"in_cluster": True}, r"clusters.0: .*give kubeconfig \(a file\) or in_cluster: true"),
        ({"namespaces": []}, "clusters.0.namespaces"),
        ({"deadline_seconds": 900}, r"clusters.0.deadline_seconds \(900\) needs 1080"),
        ({"name": "Prod!"}, "clusters.0.name"),
    ],
)
def test_invalid_cluster_settings_are_refused_naming_the_key(
    fields: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_settings(clusters=[cluster(**fields)], visibility_timeout=900)


def test_clusters_read_from_the_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "clusters:\n  - name: prod\n    in_cluster: true\n    namespaces: [shop]\n"
        "    argocd_namespace: null\n    deadline_seconds: 300\n"
    )
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))

    [prod] = load_settings().clusters

    assert (prod.in_cluster, prod.argocd_namespace, prod.deadline_seconds) == (True, None, 300)
