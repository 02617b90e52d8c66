"""GitHub's published webhook payload descriptions, for the tests of the gateway's webhooks.

The npm package @octokit/openapi-webhooks (GitHub's webhook schemas, OpenAPI 3.1) is packed
into a cache directory like @octokit/openapi (api_descriptions.py), and
`generated/api.github.com.json` kept between runs.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from services.devenv.api_descriptions import ApiDescriptionUnavailable, _npm_pack

OCTOKIT_OPENAPI_WEBHOOKS = "@octokit/openapi-webhooks@12.1.0"
_IN_PACKAGE = "package/generated/api.github.com.json"


def github_webhooks(cache_dir: Path) -> Path:
    """api.github.com's webhook descriptions in `cache_dir` (fetched the first time)."""
    version = OCTOKIT_OPENAPI_WEBHOOKS.rsplit("@", 1)[1]
    target = cache_dir / f"octokit-openapi-webhooks-{version}" / "api.github.com.json"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as download:
        package = _npm_pack(OCTOKIT_OPENAPI_WEBHOOKS, Path(download))
        staged = Path(download) / target.name
        with tarfile.open(package) as archive:
            member = archive.extractfile(_IN_PACKAGE)
            if member is None:
                raise ApiDescriptionUnavailable(f"{OCTOKIT_OPENAPI_WEBHOOKS} has no {_IN_PACKAGE}")
            with staged.open("wb") as out:
                shutil.copyfileobj(member, out)
        os.replace(staged, target)  # atomic: a concurrent run sees the whole file or none
    return target
