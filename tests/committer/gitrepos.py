"""Real git repositories for the committer's tests: a bare remote and a working clone."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import git
import yaml

from services.common.events import ManifestCommitted, PromotionRequested, ScanPassed, Source
from services.common.repository_settings import GitHost, GitopsRepository
from services.common.scan_verdicts import ScanVerdict, ScanVerdicts
from services.common.settings import Repository, Settings

if TYPE_CHECKING:
    from services.committer.writeback import GitopsWriter

DEVELOPER = git.Actor("Dana Developer", "dana@example.com")
REGISTRY = "127.0.0.1:5000/bank"
DIGEST = "sha256:" + "ab" * 32
PRODUCTION_GITOPS = "acme/prod-gitops"
OVERLAYS = "k8s/{environment}/{service}.yaml"
PULL_REQUEST_BRANCH = "shipline/promote-production"


class Repo:
    """A bare repository playing the git host, and a clone playing the developer."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.bare = root / f"{name.replace('/', '-')}.git"
        self.work = root / name.replace("/", "-")
        git.Repo.init(self.bare, bare=True, initial_branch="main").close()
        self.clone = git.Repo.init(self.work, initial_branch="main")
        self.clone.create_remote("origin", self.url)

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def commit(self, files: dict[str, str], message: str) -> str:
        if self.clone.head.is_valid():
            self.clone.git.pull("--ff-only", "origin", "main")
        for path, text in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode())
        self.clone.git.add("-A")
        sha = self.clone.index.commit(message, author=DEVELOPER, committer=DEVELOPER).hexsha
        self.clone.git.push("origin", "HEAD:refs/heads/main")
        self.clone.close()  # ends GitPython's persistent helper processes
        return sha

    def tag(self, name: str, commit: str) -> None:
        self.clone.create_tag(name, ref=commit, message=f"release {name}")
        self.clone.git.push("origin", f"refs/tags/{name}")
        self.clone.close()

    def read(self, path: str, rev: str = "main") -> str:
        with git.Repo(self.bare) as repo:
            data: bytes = (repo.commit(rev).tree / path).data_stream.read()
        return data.decode()

    def log(self) -> list[git.Commit]:
        with git.Repo(self.bare) as repo:
            return list(repo.iter_commits("main"))


def deployment(service: str, image: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {service}   # the {service} workload
spec:
  template:
    spec:
      containers:
        - name: {service}
          image: {image}   # set by Shipline
"""


def shipline_yaml(services: dict[str, dict[str, object]], **top: object) -> str:
    return yaml.safe_dump({"registry": REGISTRY, **top, "services": services}, sort_keys=False)


def monorepo(root: Path, services: list[str], name: str = "acme/shop", **top: object) -> Repo:
    """A monorepo whose services keep plain manifests under k8s/<service>.yaml."""
    repo = Repo(root, name)
    files = {
        "shipline.yaml": shipline_yaml(
            {s: {"path": f"{s}/", "manifest": f"k8s/{s}.yaml"} for s in services}, **top
        )
    }
    for service in services:
        files[f"{service}/app.txt"] = f"{service}\n"
        files[f"k8s/{service}.yaml"] = deployment(service, f"{REGISTRY}/{service}:initial")
    repo.commit(files, "initial")
    return repo


def environment_manifest(service: str, environment: str, manifest: str = OVERLAYS) -> str:
    return manifest.replace("{service}", service).replace("{environment}", environment)


def staging_and_production(
    root: Path,
    services: list[str],
    production: dict[str, object] | None = None,
    written: tuple[str, ...] = ("staging", "production"),
    manifest: str = OVERLAYS,
    **service_keys: object,
) -> Repo:
    """acme/shop: staging, then production `from: staging` with `production`'s keys (its own
    `gitops:` among them, say); each service at <service>/ with its manifest at `manifest`,
    written at the initial image for each environment in `written` (those on main)."""
    repo = Repo(root, "acme/shop")
    environments = [
        {"name": "staging"},
        {"name": "production", "from": "staging", **(production or {})},
    ]
    services_yaml = {
        s: {"path": f"{s}/", "manifest": manifest.replace("{service}", s), **service_keys}
        for s in services
    }
    files = {"shipline.yaml": shipline_yaml(services_yaml, environments=environments)}
    for service in services:
        files[f"{service}/app.txt"] = f"{service}\n"
        for environment in written:
            path = environment_manifest(service, environment, manifest)
            files[path] = deployment(service, f"{REGISTRY}/{service}:initial")
    repo.commit(files, "initial")
    return repo


def production_gitops(root: Path, services: list[str], manifest: str = OVERLAYS) -> Repo:
    """Production's own gitops repository: each service's production manifest, initial."""
    repo = Repo(root, PRODUCTION_GITOPS)
    files = {
        environment_manifest(s, "production", manifest): deployment(s, f"{REGISTRY}/{s}:initial")
        for s in services
    }
    repo.commit(files, "production's manifests")
    return repo


def own_gitops_settings(
    workdir: Path, shop: Repo, prod: Repo, host: GitHost | None = None, **extra: object
) -> Settings:
    """The settings of `shop` whose production writes to `prod` (on `host`'s API if given)."""
    entry = GitopsRepository(name=prod.name, url=prod.url, host=host)
    return settings_for(workdir, shop, gitops_repositories=[entry], **extra)


def promotion(
    run_id: str = "", services: tuple[str, ...] = ("cart",), **fields: object
) -> PromotionRequested:
    """ada asks for `services` of acme/shop in production; run_id "": a fresh one."""
    return PromotionRequested(
        run_id=run_id or f"run-p-{uuid.uuid4().hex[:6]}",
        repository="acme/shop",
        services=services,
        environment="production",
        requested_by="ada",
        **fields,  # type: ignore[arg-type]
    )


def deployed_to_staging(
    shop: Repo, writer: GitopsWriter, service: str = "cart", verdicts: object = None
) -> str:
    """A change to `service` pushed and deployed to staging, as a push run does: its commit.
    `verdicts`: a Redis client to record the scan's verdict in, as the scanner does."""
    commit = shop.commit({f"{service}/app.txt": f"{service} {uuid.uuid4()}\n"}, f"feat: {service}")
    scan = scan_passed(shop, service, commit, f"run-{commit[:7]}")
    if verdicts is not None:
        scanned(verdicts, scan)
    outcome = writer.deploy(scan)
    assert isinstance(outcome, ManifestCommitted), outcome
    return commit


def merged_by_a_person(repo: Repo, branch: str = PULL_REQUEST_BRANCH) -> str:
    """The pull request's branch merged into main on the remote, as the host would: the sha."""
    clone = repo.clone
    clone.git.pull("--ff-only", "origin", "main")
    clone.git.fetch("origin", branch)
    with clone.git.custom_environment(
        GIT_COMMITTER_NAME=DEVELOPER.name, GIT_COMMITTER_EMAIL=DEVELOPER.email
    ):
        clone.git.merge("--no-ff", "FETCH_HEAD", "-m", "Merge pull request #1")
    clone.git.push("origin", "HEAD:refs/heads/main")
    sha = clone.head.commit.hexsha
    clone.close()
    return sha


def pinned(
    repo: Repo,
    service: str,
    image: str,
    by: str = "ops-1",
    run_id: str = "run-rb",
    environment: str = "",
) -> str:
    """A pin committed to the repository's pins file (the gitops branch is main), as a
    rollback leaves it, or a person by hand; `environment` "": the first one's."""
    from services.committer.pins_file import PINS_FILE, with_pin
    from services.common.pins import Pin

    try:
        text: str | None = repo.read(PINS_FILE)
    except KeyError:
        text = None
    pin = Pin(repo.name, service, image, by, run_id, 1_765_000_000, environment)
    return repo.commit({PINS_FILE: with_pin(text, pin)}, f"chore({service}): pin [skip ci]")


def settings_for(workdir: Path, *repos: Repo, **extra: object) -> Settings:
    return Settings(
        workdir=workdir,
        repositories=[Repository(name=r.name, url=r.url, webhook_secret="x" * 20) for r in repos],
        **extra,  # type: ignore[arg-type]
    )


def scan_passed(
    repo: Repo, service: str, commit: str, run_id: str, tag: str | None = None
) -> ScanPassed:
    return ScanPassed(
        run_id=run_id,
        service=service,
        source=Source(repository=repo.name, commit=commit, ref="refs/heads/main"),
        image_repository=f"{REGISTRY}/{service}",
        tags=(tag or f"sha-{commit[:7]}",),
        digest=DIGEST,
        counts={},
        policy="test",
    )


def scanned(redis_client: object, scan: ScanPassed) -> ScanPassed:
    """The scan as the scanner leaves it: its verdict recorded for the digest."""
    ScanVerdicts(redis_client).record(ScanVerdict.of(scan))
    return scan
