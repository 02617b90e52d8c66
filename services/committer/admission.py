"""The committer's door: an image is written into a manifest only when it is an image of the
service's own repository (shipline.yaml at the source commit) and the scanner recorded its
verdict for that digest (services/common/scan_verdicts.py). The decision itself is pure
(decide.refusal); this adapter fetches the facts."""

from __future__ import annotations

from collections.abc import Mapping

from services.committer.decide import refusal
from services.common.errors import PermanentError
from services.common.events import Source
from services.common.git import Mirror
from services.common.git_auth import git_env
from services.common.project import PROJECT_FILE, Project, parse_project
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import Settings

Image = tuple[str, str]  # (image repository, digest)


class Admission:
    def __init__(self, settings: Settings, verdicts: ScanVerdicts) -> None:
        self._settings = settings
        self._verdicts = verdicts

    def check(self, source: Source, images: Mapping[str, Image]) -> None:
        """Raise PermanentError naming every image (by service) that may not be deployed."""
        project = self._project(source)
        refused = []
        for service, (repository, digest) in sorted(images.items()):
            if service not in project.services:
                refused.append(f"{service} is not in {PROJECT_FILE} at {source.short_sha}")
                continue
            verdict = self._verdicts.get(repository, digest)
            why = refusal(service, repository, digest, project.image_repository(service), verdict)
            if why:
                refused.append(why)
        if refused:
            raise PermanentError("not deployed: " + "; ".join(refused))

    def _project(self, source: Source) -> Project:
        settings = self._settings
        repo = settings.repository(source.repository)
        if repo is None:
            raise PermanentError(f"repository {source.repository} is not configured")
        env = git_env(repo.credentials, settings.workdir / "keys")
        mirror = Mirror(repo.url, settings.workdir / "mirrors", env=env)
        mirror.fetch(unless_present=source.commit)
        text = mirror.read_file(source.commit, PROJECT_FILE)
        if text is None:
            raise PermanentError(f"{PROJECT_FILE} is missing at {source.short_sha}")
        return parse_project(text, origin=f"{repo.name}@{source.short_sha}:{PROJECT_FILE}")
