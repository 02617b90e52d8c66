"""Detection judged on what each service runs, as `shipline up` lives it: a build lost to a
registry outage is brought back by the next push, whatever that push touches, and a force
push that drops a `[skip ci]` commit rebuilds only the service that really differs.

The reconciler is off here: the push alone must do it.
"""

from __future__ import annotations

import git

from services.demo.scenario import DEVELOPER, Push, SampleMonorepo
from tests.deploy_outcomes import image_of, manifest_of
from tests.stack import Stack, own_registry_stack

BUDGET = 4.0


# A `shipline up` whose registry the tests stop and start, on a short budget.
converge_stack = own_registry_stack(BUDGET, reconciler={"enabled": False})


def test_a_build_lost_to_a_registry_outage_is_deployed_by_the_next_push_to_another_service(
    converge_stack: Stack,
) -> None:
    stack, sample = converge_stack, converge_stack.sample
    stack.lose_a_build_to_a_registry_outage()
    other = sample.append("account_service/app.txt", "Elsewhere.", "feat(account): elsewhere")

    run = stack.deploy(other)

    assert sorted(run["services"]) == ["account-service", "user-service"]
    tag = f"sha-{other.after[:7]}"
    image = image_of(stack.registry, "user-service", other.after)
    assert run["services"]["user-service"]["image"] == image
    assert stack.registry.manifest_digest("microbank/user-service", tag) is not None
    labels = stack.registry.config_labels("microbank/user-service", tag)
    assert labels["org.opencontainers.image.revision"] == other.after
    assert f"image: {image}" in manifest_of(sample, "user-service")
    served = sample.remote_file("user_service/app.txt", ref=other.after)
    assert "During the outage." in served  # the image holds the lost change


def test_a_force_push_dropping_a_skip_ci_commit_rebuilds_only_the_service_that_differs(
    converge_stack: Stack,
) -> None:
    stack, sample = converge_stack, converge_stack.sample
    stack.deploy(sample.append("frontend/app.txt", "Deployed.", "feat(frontend): deployed"))
    sample.pull()
    skipped = sample.append("user_service/app.txt", "Typo fixed.", "docs(user): typo [skip ci]")
    run = stack.run_of(skipped)
    assert run["status"] == "skipped" and run["services"] == {}, run

    forced = force_push_instead(sample, skipped, "frontend/app.txt", "Rewritten.")
    run = stack.deploy(forced)

    assert sorted(run["services"]) == ["frontend"]
    tag = f"sha-{forced.after[:7]}"
    assert stack.registry.manifest_digest("microbank/frontend", tag) is not None
    assert stack.registry.manifest_digest("microbank/user-service", tag) is None
    assert f"microbank/frontend:{tag}" in manifest_of(sample, "frontend")


def force_push_instead(sample: SampleMonorepo, dropped: Push, path: str, line: str) -> Push:
    """Drop the commit `dropped` pushed and force-push one appending `line` to `path`."""
    with git.Repo(sample.clone) as repo:
        repo.git.reset("--hard", dropped.before)
        target = sample.clone / path
        target.write_text(target.read_text() + line + "\n")
        repo.git.add(path)
        repo.index.commit(f"feat: {line}", author=DEVELOPER, committer=DEVELOPER)
        repo.git.push("--force", "origin", "HEAD:refs/heads/main")
        return Push(dropped.after, repo.head.commit.hexsha)
