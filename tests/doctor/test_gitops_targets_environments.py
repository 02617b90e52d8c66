"""shipline doctor probes every gitops branch the committer writes: an environment's own
gitops repository or branch too."""

from __future__ import annotations

from pathlib import Path

from services.common.project import Project
from services.common.repository_settings import GitopsRepository
from services.common.settings import Repository, Settings
from services.doctor.plan import gitops_targets


def test_an_environments_own_gitops_repository_and_branch_are_probed_where_they_are_written(
    tmp_path: Path,
) -> None:
    settings = Settings(
        workdir=tmp_path,
        repositories=[Repository(name="acme/shop", url="file:///shop", webhook_secret="x" * 20)],
        gitops_repositories=[GitopsRepository(name="acme/prod-gitops", url="file:///prod")],
    )
    project = Project.model_validate(
        {
            "registry": "registry.example/acme",
            "environments": [
                {"name": "staging"},
                {"name": "qa", "from": "staging", "gitops": {"branch": "qa"}},
                {"name": "production", "from": "qa", "gitops": {"repository": "acme/prod-gitops"}},
            ],
            "services": {"cart": {"path": "cart/", "manifest": "k8s/{environment}/cart.yaml"}},
        }
    )

    targets = gitops_targets(settings, {"acme/shop": project})

    assert [(t.name, t.branch, t.remote is not None) for t in targets] == [
        ("acme/shop", "main", True),
        ("acme/shop", "qa", True),
        ("acme/prod-gitops", "main", True),
    ]
