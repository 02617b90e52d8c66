"""The `Shipline-Image` trailer: the scan verdict's evidence a deploy or promotion commit
carries, and the message builder refusing any value that would add a line of its own."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest

from services.committer.messages import (
    deploy_message,
    image_grep,
    image_trailer,
    promotion_message,
    scanned_image,
)
from services.common.errors import PermanentError
from services.common.events import Source

COMMIT = "c" * 40
SOURCE = Source(repository="acme/shop", commit=COMMIT, ref="refs/heads/main")
DIGEST = "sha256:" + "ab" * 32
REPOSITORY = "127.0.0.1:5000/acme/cart"
FAKE_TRAILER = "\nShipline-Image: cart 127.0.0.1:5000/acme/cart@sha256:" + "ee" * 32


def _trailer_keys(message: str) -> list[str]:
    return [line.split(":")[0] for line in message.splitlines() if line.startswith("Shipline-")]


def test_a_deploy_of_a_passed_image_names_it_by_digest_after_its_deployed_trailer() -> None:
    message = deploy_message("cart", f"{REPOSITORY}:sha-c", SOURCE, (REPOSITORY, DIGEST))

    assert message.endswith(
        f"Shipline-Deployed: cart acme/shop@{COMMIT}\nShipline-Image: cart {REPOSITORY}@{DIGEST}\n"
    )


def test_a_deploy_without_a_passed_verdict_names_no_image() -> None:
    assert "Shipline-Image" not in deploy_message("cart", f"{REPOSITORY}:sha-c", SOURCE)


def test_a_promotion_names_each_scanned_image_once() -> None:
    message = promotion_message(
        "production",
        "staging",
        {"cart": (f"{REPOSITORY}:sha-c", DIGEST, SOURCE)},
        "ada",
        "",
        uuid.UUID(int=1),
        "run-1",
        {"cart": (REPOSITORY, DIGEST)},
    )

    assert _trailer_keys(message) == [
        "Shipline-Deployed",
        "Shipline-Image",
        "Shipline-Run",
        "Shipline-Request",
    ]


@pytest.mark.parametrize(
    ("service", "repository", "digest"),
    [
        ("cart" + FAKE_TRAILER, REPOSITORY, DIGEST),
        ("cart", REPOSITORY + FAKE_TRAILER, DIGEST),
        ("cart", REPOSITORY, DIGEST + FAKE_TRAILER),
        ("cart", REPOSITORY + " other/cart", DIGEST),
        ("cart", REPOSITORY, "sha256:" + "AB" * 32),
        ("cart", REPOSITORY, "sha512:" + "ab" * 64),
    ],
)
def test_a_service_image_or_digest_that_would_add_a_line_is_refused(
    service: str, repository: str, digest: str
) -> None:
    with pytest.raises(PermanentError, match="refused for a commit message"):
        image_trailer(service, repository, digest)
    with pytest.raises(PermanentError):
        deploy_message(service, f"{REPOSITORY}:v1", SOURCE, (repository, digest))


def test_an_image_string_cannot_smuggle_an_image_trailer_into_a_deploy_message() -> None:
    with pytest.raises(PermanentError):
        deploy_message("cart", f"{REPOSITORY}:v1" + FAKE_TRAILER, SOURCE)


def test_only_a_sha256_digest_of_a_plain_repository_is_named() -> None:
    assert scanned_image(REPOSITORY, DIGEST) == (REPOSITORY, DIGEST)
    assert scanned_image(REPOSITORY, "sha256:def") is None
    assert scanned_image(REPOSITORY + "\nx", DIGEST) is None


def test_the_grep_matches_exactly_that_trailer_in_git(tmp_path: Path) -> None:
    """The pattern as git's extended regexps read it: a dot in the repository is a dot, and
    another digest or service does not match."""
    pattern = image_grep("cart", "registry.example.com/acme/cart", DIGEST)
    lines = [
        f"Shipline-Image: cart registry.example.com/acme/cart@{DIGEST}",
        f"Shipline-Image: cart registryXexample.com/acme/cart@{DIGEST}",
        f"Shipline-Image: cart registry.example.com/acme/cart@{DIGEST}0",
        f"Shipline-Image: carts registry.example.com/acme/cart@{DIGEST}",
    ]
    file = tmp_path / "lines"
    file.write_text("\n".join(lines) + "\n")
    found = subprocess.run(
        ["grep", "-E", pattern, str(file)], capture_output=True, text=True, check=False
    ).stdout.splitlines()

    assert found == lines[:1]
    assert re.fullmatch(pattern[1:-1], lines[0])
