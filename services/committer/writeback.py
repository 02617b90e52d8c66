"""Write-back: set the new image in the gitops repository, commit as the bot, push.

One writer at a time per gitops repository and branch, across every committer process (a
Redis lock with expiry); a push rejected because the branch moved is fetched, re-applied
on the new head and retried.
"""

from __future__ import annotations

import contextlib
import time

from services.committer.manifest import ManifestError, set_container_image
from services.common.errors import PermanentError, TransientError
from services.common.events import ManifestCommitted, ScanPassed
from services.common.git import Checkout, Mirror, PushRejected
from services.common.logging import get_logger
from services.common.project import PROJECT_FILE, Project, parse_project
from services.common.settings import Repository, Settings
from services.common.stage import backoff

PUSH_ATTEMPTS = 6
LOCK_SECONDS = 300


def commit_message(service: str, image: str) -> str:
    return f"chore({service}): deploy {image} [skip ci]"


class GitopsWriter:
    def __init__(self, settings: Settings, redis_client: object) -> None:
        self._settings = settings
        self._redis = redis_client

    def deploy(self, scan: ScanPassed) -> ManifestCommitted:
        source = self._repository(scan.source.repository)
        project = self._project(source, scan.source.commit)
        gitops = (
            self._repository(project.gitops.repository) if project.gitops.repository else source
        )
        branch = project.gitops.branch
        spec = project.services.get(scan.service)
        if spec is None:
            raise PermanentError(f"service {scan.service} is not in {PROJECT_FILE}")
        path = project.manifest_path(scan.service)
        checkout = Checkout(gitops.url, branch, self._settings.workdir / "gitops")
        lock = self._redis.lock(  # type: ignore[attr-defined]
            f"shipline:lock:gitops:{gitops.name}:{branch}", timeout=LOCK_SECONDS
        )
        if not lock.acquire(blocking_timeout=LOCK_SECONDS):
            raise TransientError(f"gitops repository {gitops.name} stayed locked")
        try:
            return self._write(scan, checkout, path, spec.container or scan.service, gitops.name)
        finally:
            with contextlib.suppress(Exception):
                lock.release()

    def _write(
        self, scan: ScanPassed, checkout: Checkout, path: str, container: str, gitops_name: str
    ) -> ManifestCommitted:
        log = get_logger(manifest=path)
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            head = checkout.sync()
            text = checkout.read(path)
            if text is None:
                raise PermanentError(f"manifest {path} does not exist on {checkout.branch}")
            try:
                edit = set_container_image(text, scan.image, container)
            except ManifestError as exc:
                raise PermanentError(f"{path}: {exc}") from None
            if not edit.changed:
                log.info("manifest already holds the image", image=scan.image)
                deployed_by = checkout.last_commit_touching(path) or head
                return self._committed(
                    scan, path, edit.old_image, deployed_by, checkout, gitops_name
                )
            checkout.write(path, edit.text)
            bot = self._settings.bot
            try:
                sha = checkout.commit_and_push(
                    [path], commit_message(scan.service, scan.image), bot.name, bot.email
                )
            except PushRejected:
                log.info("push rejected, re-applying on the new head", attempt=attempt)
                time.sleep(backoff(attempt, base=0.2, cap=5))
                continue
            log.info("manifest committed", commit=sha, image=scan.image)
            return self._committed(scan, path, edit.old_image, sha, checkout, gitops_name)
        raise TransientError(f"push to {checkout.branch} rejected {PUSH_ATTEMPTS} times")

    def _committed(
        self, scan: ScanPassed, path: str, old: str, sha: str, checkout: Checkout, repo: str
    ) -> ManifestCommitted:
        return ManifestCommitted(
            event_id=scan.follow_up_id("ManifestCommitted"),
            run_id=scan.run_id,
            service=scan.service,
            source=scan.source,
            manifest_path=path,
            old_image=old,
            new_image=scan.image,
            digest=scan.digest,
            gitops_repository=repo,
            gitops_commit=sha,
            branch=checkout.branch,
        )

    def _repository(self, name: str) -> Repository:
        repo = self._settings.repository(name)
        if repo is None:
            raise PermanentError(f"repository {name} is not configured")
        return repo

    def _project(self, repo: Repository, commit: str) -> Project:
        mirror = Mirror(repo.url, self._settings.workdir / "mirrors")
        if not mirror.has_commit(commit):
            mirror.fetch()
        text = mirror.read_file(commit, PROJECT_FILE)
        if text is None:
            raise PermanentError(f"{PROJECT_FILE} is missing at {commit[:7]}")
        return parse_project(text, origin=f"{repo.name}@{commit[:7]}:{PROJECT_FILE}")
