"""The builder's pure decisions: already built?, cache sources, the message of a failure."""

from __future__ import annotations

from services.builder.plan import already_built, cache_sources, failure_message, image_pushed
from tests.builder.conftest import change_for

IMAGE = "127.0.0.1:5000/shop/api"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
REVISION = "org.opencontainers.image.revision"


def test_an_image_labelled_with_the_commit_is_already_built() -> None:
    change = change_for(IMAGE, "api", COMMIT)

    assert already_built({REVISION: COMMIT, "other": "x"}, change)
    assert not already_built({REVISION: "f" * 40}, change)  # the tag was moved to other code
    assert not already_built({}, change)
    assert not already_built(None, change)


def test_cache_sources_are_the_branchs_last_push_then_latest() -> None:
    change = change_for(IMAGE, "api", COMMIT, ref="refs/heads/feature")

    assert cache_sources(change, "sha-1111111") == [f"{IMAGE}:sha-1111111", f"{IMAGE}:latest"]
    assert cache_sources(change, None) == [f"{IMAGE}:latest"]
    assert cache_sources(change, "latest") == [f"{IMAGE}:latest"]


def test_a_build_is_never_its_own_cache_source() -> None:
    change = change_for(IMAGE, "api", COMMIT, tags=("latest",))

    assert cache_sources(change, "latest") == []


def test_the_image_pushed_id_is_deterministic_so_redelivery_dedupes() -> None:
    change = change_for(IMAGE, "api", COMMIT)
    digest = "sha256:" + "a" * 64

    first = image_pushed(change, digest, 1.23456)
    again = image_pushed(change, digest, 9.0, cached=True)

    assert first.event_id == again.event_id
    assert first.build_seconds == 1.235
    assert again.cached and not first.cached


def test_a_failure_message_names_the_error_the_log_file_and_its_last_lines() -> None:
    message = failure_message(
        "docker build failed: exit 3\nlonger engine detail", "/w/builds/r/api.log", "a\nb"
    )

    assert message.splitlines() == [
        "docker build failed: exit 3",
        "build log: /w/builds/r/api.log",
        "--- last lines ---",
        "a",
        "b",
    ]
