"""What a promotion's pull request says to its reviewer (pure: no git, no host)."""

from __future__ import annotations

from services.committer.promotion_pull_text import MAX_TITLE, ServiceChange, body, title
from services.common.events import ManifestCommitted, Source
from services.common.git import CommitInfo

SOURCE = Source(repository="acme/shop", commit="a" * 40, ref="refs/heads/main")


def committed(service: str, digest: str = "sha256:" + "d" * 64) -> ManifestCommitted:
    return ManifestCommitted(
        run_id="run-1",
        service=service,
        source=SOURCE,
        manifest_path=f"k8s/production/{service}.yaml",
        old_image=f"r/{service}:old",
        new_image=f"r/{service}:new",
        digest=digest,
        gitops_repository="acme/gitops",
        gitops_commit="b" * 40,
        branch="main",
    )


def commits(count: int) -> list[CommitInfo]:
    return [
        CommitInfo(f"{i:040x}", "dev@example.com", f"feat: change {i}\n\nbody")
        for i in range(count)
    ]


def test_the_title_names_the_services_in_order_and_the_environment():
    assert title(["web", "cart"], "production") == "Promote cart, web to production"


def test_a_title_too_long_for_the_host_is_cut_short():
    names = [f"service-number-{i}" for i in range(30)]

    assert len(title(names, "production")) == MAX_TITLE


def test_the_body_tables_each_image_digest_and_source_commit_and_links_the_run():
    text = body(
        "production",
        "staging",
        {"cart": ServiceChange(committed("cart"), scan="passed in run r0")},
        "run-1",
        "https://shipline.example/runs/run-1",
    )

    assert (
        "| cart | `r/cart:new` | `sha256:" + "d" * 64 + "` | acme/shop@" + "a" * 12 + " |" in text
    )
    assert "- production runs now: `r/cart:old`" in text
    assert "- scan: passed in run r0" in text
    assert "[run-1](https://shipline.example/runs/run-1)" in text


def test_source_commits_are_listed_by_subject_thirty_at_most_the_rest_counted():
    change = ServiceChange(committed("cart"), commits(32), previous_commit="c" * 40)

    text = body("production", "staging", {"cart": change}, "run-1")

    assert f"- source commits since {'c' * 12}:" in text
    assert "feat: change 0" in text and "feat: change 29" in text
    assert "feat: change 30" not in text and "… and 2 more" in text
    assert "body" not in text  # subjects only
    assert "`run-1`" in text  # no link without a public address


def test_an_environment_running_no_shipline_deploy_says_so_instead_of_commits():
    text = body("production", "staging", {"cart": ServiceChange(committed("cart", ""))}, "r")

    assert "production runs no Shipline deploy yet" in text
    assert "`unknown`" in text  # no digest known
