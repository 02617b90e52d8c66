"""GET /api/v1/services with `environments:`: each service lists what every environment runs
(image, digest, source commit, since when, state), from the view the committer records after
its commits, on real git repositories and a real Redis; without `environments:` nothing
changes."""

from __future__ import annotations

from pathlib import Path

import redis

from services.committer.environment_survey import record_environments
from services.committer.promote import promote
from services.committer.writeback import GitopsWriter
from services.common.environment_view import EnvironmentsStore
from services.common.events import (
    DeploymentFailed,
    DeploymentVerified,
    ImagePushed,
    ManifestCommitted,
    PromotionRequested,
)
from services.common.promotion_pulls import PendingPromotion, PromotionPulls
from services.common.runs import RunStore
from services.common.settings import Settings
from tests.committer.gitrepos import (
    DIGEST,
    REGISTRY,
    Repo,
    deployment,
    monorepo,
    scan_passed,
    settings_for,
    shipline_yaml,
)
from tests.gateway.test_services import by_name, listed

SERVICES = ["cart", "search"]
ENVIRONMENTS = [{"name": "staging"}, {"name": "production", "from": "staging"}]


def shop_with_environments(root: Path) -> Repo:
    repo = Repo(root, "acme/shop")
    services = {
        s: {"path": f"{s}/", "manifest": "k8s/{environment}/" + f"{s}.yaml"} for s in SERVICES
    }
    files = {"shipline.yaml": shipline_yaml(services, environments=ENVIRONMENTS)}
    for service in SERVICES:
        files[f"{service}/app.txt"] = f"{service}\n"
        for environment in ("staging", "production"):
            files[f"k8s/{environment}/{service}.yaml"] = deployment(
                service, f"{REGISTRY}/{service}:initial"
            )
    repo.commit(files, "initial")
    return repo


class Committer:
    """Commits as the committer does, records its runs as the workers do, and records the
    environments view after each commit as committer/task.py does."""

    def __init__(self, shop: Repo, settings: Settings, client: redis.Redis) -> None:
        self.shop, self.runs = shop, RunStore(client)
        self.writer = GitopsWriter.connect(settings, client)
        self.store = EnvironmentsStore(client)

    def record(self, commit: str) -> None:
        w = self.writer
        record_environments(w.targets, w.commits, self.store, self.shop.name, commit)

    def deploy_to_staging(self, service: str, run_id: str) -> tuple[str, ManifestCommitted]:
        commit = self.shop.commit({f"{service}/app.txt": f"{service} {run_id}\n"}, "feat: more")
        scan = scan_passed(self.shop, service, commit, run_id)
        self.runs.create(run_id, trigger="push", repository=self.shop.name, commit=commit)
        self.runs.plan(run_id, [service])
        self.runs.apply(ImagePushed(**scan.model_dump(include=IMAGE_FIELDS)))
        committed = self.writer.deploy(scan)
        assert isinstance(committed, ManifestCommitted)
        self.record(commit)
        return commit, committed

    def promote(self, service: str, run_id: str, commit: str) -> ManifestCommitted:
        self.runs.create(
            run_id, trigger="promotion", repository=self.shop.name, environment="production"
        )
        self.runs.plan(run_id, [service])
        request = PromotionRequested(
            run_id=run_id,
            repository=self.shop.name,
            services=(service,),
            environment="production",
            requested_by="ada",
        )
        [committed] = promote(request, self.writer.targets, self.writer.commits)
        assert isinstance(committed, ManifestCommitted)
        self.record(commit)
        return committed

    def verified(self, committed: ManifestCommitted, healthy: bool | None) -> None:
        """The commit to be verified on a cluster, and the verifier's verdict (None: not
        yet), as the workers record them."""
        on_cluster = committed.model_copy(update={"cluster": "kind"})
        self.runs.apply(on_cluster)
        common = {
            "run_id": committed.run_id,
            "service": committed.service,
            "source": committed.source,
            "image": committed.new_image,
            "cluster": "kind",
            "gitops_commit": committed.gitops_commit,
        }
        if healthy:
            self.runs.apply(DeploymentVerified(**common, seconds=4.0))
        elif healthy is False:
            failure = "CrashLoopBackOff in Deployment shop/cart"
            self.runs.apply(
                DeploymentFailed(**common, condition="CrashLoopBackOff", reason=failure)
            )


IMAGE_FIELDS = {"run_id", "service", "source", "image_repository", "tags", "digest"}


def test_each_service_lists_every_environment_with_its_image_digest_commit_since_and_state(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = shop_with_environments(tmp_path / "remotes")
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url)
    committer = Committer(shop, settings_for(tmp_path / "c", shop), redis_client)
    commit, staged = committer.deploy_to_staging("cart", "run-stage")
    committer.verified(staged, healthy=True)
    staged_since = committer.store.read(shop.name).find("staging").services["cart"].since  # type: ignore[union-attr]
    promoted = committer.promote("cart", "run-promote", commit)
    committer.verified(promoted, healthy=False)

    rows = by_name(listed(settings, redis_client))

    image = f"{REGISTRY}/cart:sha-{commit[:7]}"
    staging, production = rows["cart"]["environments"]
    assert rows["cart"]["image"] == image  # the existing fields: the first environment
    assert rows["cart"]["manifest"] == "k8s/staging/cart.yaml"
    assert staging["name"] == "staging" and staging["source"] is None
    assert (staging["image"], staging["digest"]) == (image, DIGEST)
    assert (staging["source_repository"], staging["source_commit"]) == (shop.name, commit)
    assert (staging["state"], staging["run_id"]) == ("healthy", "run-stage")
    assert staging["promotable"] is True and staging["reason"] is None
    assert staging["since"] == staged_since  # unchanged by the promotion's later view
    assert production["name"] == "production" and production["source"] == "staging"
    assert (production["image"], production["digest"]) == (image, DIGEST)
    assert production["source_commit"] == commit
    assert (production["state"], production["run_id"]) == ("failed", "run-promote")
    assert production["since"] > staged_since
    assert production["surveyed_at"] >= production["since"]


def test_what_no_shipline_deploy_wrote_is_committed_with_why_and_a_run_under_way_is_incoming(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = shop_with_environments(tmp_path / "remotes")
    committer = Committer(shop, settings_for(tmp_path / "c", shop), redis_client)
    _, staged = committer.deploy_to_staging("cart", "run-stage")
    committer.runs.apply(staged)  # committed, no cluster: the run ends there
    committer.runs.create(
        "run-next", trigger="promotion", repository=shop.name, environment="production"
    )
    committer.runs.plan("run-next", ["cart"])  # queued: not committed yet

    answer = listed(settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client)

    staging, production = by_name(answer)["search"]["environments"]
    for environment in (staging, production):
        assert environment["image"] == f"{REGISTRY}/search:initial"
        assert (environment["state"], environment["run_id"]) == ("committed", None)
        assert environment["digest"] is None and environment["source_commit"] is None
        assert environment["promotable"] is False
        assert "is not a Shipline deploy of search" in environment["reason"]
    cart_staging, cart_production = by_name(answer)["cart"]["environments"]
    assert cart_production["state"] == "committed"  # promoted by nobody yet: as it was
    assert cart_production["incoming_run_id"] == "run-next"
    assert (cart_staging["state"], cart_staging["run_id"]) == ("committed", "run-stage")
    assert cart_staging["incoming_run_id"] is None


def test_without_environments_a_service_row_has_no_environments_key(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"])

    answer = listed(settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client)

    [row] = answer["services"]
    assert "environments" not in row
    assert row["image"] == f"{REGISTRY}/cart:initial"


def awaiting_merge(committed: ManifestCommitted, client: redis.Redis) -> PendingPromotion:
    """A promotion of the committed service to production whose pull request is open, as the
    committer records it (services/committer/pull_request_writeback.py)."""
    pending = PendingPromotion(
        run_id="run-pr",
        repository=committed.source.repository,
        environment="production",
        gitops_repository=committed.gitops_repository,
        number=17,
        url="https://git.example.test/acme/shop/pull/17",
        branch="shipline/promote-production",
        commit="c" * 40,
        committed=(committed.model_copy(update={"run_id": "run-pr", "gitops_commit": "c" * 40}),),
    )
    PromotionPulls(client).record(pending)
    return pending


def staged_and_awaiting_merge(tmp_path: Path, client: redis.Redis) -> tuple[Repo, PendingPromotion]:
    """cart deployed to staging (committed, no cluster) and its promotion to production
    awaiting its pull request's merge."""
    shop = shop_with_environments(tmp_path / "remotes")
    committer = Committer(shop, settings_for(tmp_path / "c", shop), client)
    _, staged = committer.deploy_to_staging("cart", "run-stage")
    committer.runs.apply(staged)
    return shop, awaiting_merge(staged, client)


def test_an_open_promotion_pull_request_is_listed_on_the_environment_it_will_write(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop, pending = staged_and_awaiting_merge(tmp_path, redis_client)

    answer = listed(settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client)

    staging, production = by_name(answer)["cart"]["environments"]
    assert production["pending_pull_request"] == {
        "number": 17,
        "url": pending.url,
        "run_id": "run-pr",
    }
    assert production["image"] == f"{REGISTRY}/cart:initial"  # not written until merged
    assert staging["pending_pull_request"] is None
    for environment in by_name(answer)["search"]["environments"]:
        assert environment["pending_pull_request"] is None
    PromotionPulls(redis_client).answered(pending.gitops_repository, pending.number)
    answer = listed(settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client)
    assert by_name(answer)["cart"]["environments"][1]["pending_pull_request"] is None
