"""The git hosts' published API descriptions, for the tests of services/githost/.

GitHub's OpenAPI description comes from the npm package @octokit/openapi (GitHub's own
description, github/rest-api-description, with Octokit's extensions): `npm pack` into a
cache directory, `generated/api.github.com.json` extracted, kept between runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

OCTOKIT_OPENAPI = "@octokit/openapi@23.0.2"
_GITHUB_IN_PACKAGE = "package/generated/api.github.com.json"


class ApiDescriptionUnavailable(RuntimeError):
    """A description could not be fetched (npm missing, or its registry unreachable)."""


def github_openapi(cache_dir: Path) -> Path:
    """api.github.com's OpenAPI 3.0 description in `cache_dir` (fetched the first time)."""
    return npm_package_file(OCTOKIT_OPENAPI, _GITHUB_IN_PACKAGE, cache_dir)


def npm_package_file(spec: str, member_path: str, cache_dir: Path) -> Path:
    """The file `member_path` of the npm package `spec` (name@version), kept in `cache_dir`
    under the package's name and version (packed with npm the first time)."""
    name, version = spec.rsplit("@", 1)
    target = cache_dir / f"{name.lstrip('@').replace('/', '-')}-{version}" / Path(member_path).name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as download:
        package = _npm_pack(spec, Path(download))
        staged = Path(download) / target.name
        with tarfile.open(package) as archive:
            member = archive.extractfile(member_path)
            if member is None:
                raise ApiDescriptionUnavailable(f"{spec} has no {member_path}")
            with staged.open("wb") as out:
                shutil.copyfileobj(member, out)
        os.replace(staged, target)  # atomic: a concurrent run sees the whole file or none
    return target


def _npm_pack(spec: str, directory: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ApiDescriptionUnavailable(
            f"npm not found on PATH (needed to fetch {spec}): `apt-get install npm`"
        )
    command = [npm, "pack", "--silent", "--pack-destination", str(directory), spec]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    packages = list(directory.glob("*.tgz"))
    if completed.returncode != 0 or not packages:
        raise ApiDescriptionUnavailable(
            f"`npm pack {spec}` failed (the npm registry must be reachable): "
            f"{completed.stderr.strip()[-800:]}"
        )
    return packages[0]
