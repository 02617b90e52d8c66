"""The manifest commit the verifier tests verify: cart moved from OLD to NEW in acme/shop,
for the `prod` cluster of tests/verifier/conftest.py."""

from __future__ import annotations

from services.common.events import ManifestCommitted, Source

REPO = "127.0.0.1:5000/bank/cart"
OLD, NEW = f"{REPO}:sha-aaaaaaa", f"{REPO}:sha-bbbbbbb"
COMMIT = "c" * 40


def manifest_committed(
    run_id: str, repository: str = "acme/shop", **changes: object
) -> ManifestCommitted:
    """cart's commit for `run_id`, built from `repository`; `changes` replace other fields."""
    event = ManifestCommitted(
        run_id=run_id,
        service="cart",
        source=Source(repository=repository, commit="a" * 40, ref="refs/heads/main"),
        manifest_path="k8s/cart.yaml",
        old_image=OLD,
        new_image=NEW,
        gitops_repository="acme/shop",
        gitops_commit=COMMIT,
        branch="main",
        cluster="prod",
    )
    return event.model_copy(update=changes)
