"""GitHub's published webhook payload descriptions, for the tests of the gateway's webhooks.

The npm package @octokit/openapi-webhooks (GitHub's webhook schemas, OpenAPI 3.1) is packed
into a cache directory like @octokit/openapi (api_descriptions.py), and
`generated/api.github.com.json` kept between runs.
"""

from __future__ import annotations

from pathlib import Path

from services.devenv.api_descriptions import npm_package_file

OCTOKIT_OPENAPI_WEBHOOKS = "@octokit/openapi-webhooks@12.1.0"
_IN_PACKAGE = "package/generated/api.github.com.json"


def github_webhooks(cache_dir: Path) -> Path:
    """api.github.com's webhook descriptions in `cache_dir` (fetched the first time)."""
    return npm_package_file(OCTOKIT_OPENAPI_WEBHOOKS, _IN_PACKAGE, cache_dir)
