"""shipline.yaml with `environments:`, through the running stack: a push lands in the first
environment's manifests only, and a commit to a later environment's manifest builds nothing."""

from __future__ import annotations

import git

from services.demo.scenario import DEVELOPER, Push, SampleMonorepo
from tests.stack import Stack

ENVIRONMENTS = """\
environments:
  - name: staging
  - name: production
    from: staging
    approval: manual
    releases: true
"""


def overlay(environment: str, service: str) -> str:
    return f"k8s/overlays/{environment}/{service}.yaml"


def split_by_environment(
    sample: SampleMonorepo,
    environments: str,
    copied_to: tuple[str, ...] = ("staging", "production"),
) -> dict[str, str]:
    """The files moving each service's manifest to an overlay per environment: `environments`
    atop shipline.yaml, and the manifest as it is now copied to each overlay of `copied_to`."""
    config = sample.remote_file("shipline.yaml")
    files = {}
    for name in sample.services:
        manifest = f"k8s/manifests/{name}/deployment.yaml"
        assert f"manifest: {manifest}" in config
        config = config.replace(
            f"manifest: {manifest}", f"manifest: {overlay('{environment}', name)}"
        )
        for environment in copied_to:
            files[overlay(environment, name)] = sample.remote_file(manifest)
    files["shipline.yaml"] = environments + config
    return files


def commit_and_push(stack: Stack, files: dict[str, str], message: str) -> Push:
    """One commit of the sample writing `files`, pushed (no webhook sent)."""
    sample = stack.sample
    sample.pull()
    for path, text in files.items():
        (sample.clone / path).parent.mkdir(parents=True, exist_ok=True)
        (sample.clone / path).write_text(text)
    with git.Repo(sample.clone) as repo:
        before = repo.head.commit.hexsha
        repo.git.add(*files)
        repo.index.commit(message, author=DEVELOPER, committer=DEVELOPER)
        repo.git.push("origin", "HEAD:refs/heads/main")
        return Push(before, repo.head.commit.hexsha)


def files_changed_by(stack: Stack, commit: str) -> set[str]:
    with git.Repo(stack.sample.remote) as repo:
        return {str(path) for path in repo.commit(commit).stats.files}


def test_a_push_deploys_to_the_first_environments_manifests_and_leaves_the_next_alone(
    stack: Stack,
) -> None:
    sample = stack.sample
    services = sample.services
    before = {
        name: sample.remote_file(f"k8s/manifests/{name}/deployment.yaml") for name in services
    }
    files = split_by_environment(sample, ENVIRONMENTS)
    files["user_service/app.txt"] = sample.remote_file("user_service/app.txt") + "E-mail.\n"
    push = commit_and_push(stack, files, "chore: staging and production")

    run = stack.deploy(push)

    assert set(run["services"]) == set(services)  # their manifest entries changed
    written: set[str] = set()
    for name, service in run["services"].items():
        image = f"{stack.registry.host}/microbank/{name}:sha-{push.after[:7]}"
        assert service["image"] == image
        assert f"image: {image}" in sample.remote_file(overlay("staging", name))
        assert sample.remote_file(overlay("production", name)) == before[name]
        assert sample.remote_file(f"k8s/manifests/{name}/deployment.yaml") == before[name]
        written |= files_changed_by(stack, service["gitops_commit"])
    assert written == {overlay("staging", name) for name in services}

    by_hand = commit_and_push(
        stack,
        {
            overlay("production", "user-service"): sample.remote_file(
                overlay("staging", "user-service")
            )
        },
        "chore(k8s): production runs staging's user-service",
    )
    skipped = stack.run_of(by_hand)

    assert skipped["status"] == "skipped", skipped
    assert skipped["services"] == {}
    assert skipped["reason"] == "only manifest paths changed"
