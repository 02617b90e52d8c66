"""The builder's pure decisions: what to build (shipline.yaml, never the event), already
built?, cache sources, the message of a failure."""

from __future__ import annotations

import pytest

from services.builder.plan import (
    BuildSpec,
    already_built,
    build_spec,
    cache_sources,
    failure_message,
    image_pushed,
)
from services.common.errors import PermanentError
from services.common.events import ChangeDetected
from services.common.project import parse_project
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


# --- what is built comes from shipline.yaml, never from the event -------------------------

PROJECT = parse_project(
    """
registry: 127.0.0.1:5000/shop
services:
  api:
    path: api/
    dockerfile: api/docker/Dockerfile
    build_args: {FLAVOUR: plain}
    target: runtime
  web:
    path: web/
    network: true
"""
)
SHA_TAG = f"sha-{COMMIT[:7]}"


def configured_change(service: str = "api", **fields: object) -> ChangeDetected:
    """The ChangeDetected the detector sends for `service` of PROJECT, with `fields` changed."""
    spec = PROJECT.services[service]
    image_repository = fields.pop("image_repository", PROJECT.image_repository(service))
    sent: dict[str, object] = {
        "context": spec.build_context(),
        "dockerfile": spec.dockerfile_in_context(),
        "build_args": dict(spec.build_args),
        "target": spec.target,
        **fields,
    }
    return change_for(str(image_repository), service, COMMIT, **sent)


def test_the_build_is_the_services_entry_in_shipline_yaml() -> None:
    spec = build_spec(configured_change(), PROJECT, "main")

    assert spec == BuildSpec(
        image_repository="127.0.0.1:5000/shop/api",
        context="api",
        dockerfile="docker/Dockerfile",
        tags=(SHA_TAG, "latest"),
        build_args={"FLAVOUR": "plain"},
        target="runtime",
        network=False,
        tags_from_ref=True,
    )


def test_a_service_opting_into_network_gets_it_and_the_others_do_not() -> None:
    assert build_spec(configured_change("web"), PROJECT, "main").network
    assert not build_spec(configured_change("api"), PROJECT, "main").network


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({"image_repository": "127.0.0.1:5000/other-team/base-image"}, "image_repository"),
        ({"image_repository": "evil.example.com/backdoor"}, "image_repository"),
        ({"image_repository": "127.0.0.1:5000/shop/web"}, "image_repository"),
        ({"context": "web"}, "context"),
        ({"context": ""}, "context"),
        ({"dockerfile": "Dockerfile.evil"}, "dockerfile"),
        ({"build_args": {"FLAVOUR": "plain", "HTTP_PROXY": "http://evil"}}, "build_args"),
        ({"build_args": {}}, "build_args"),
        ({"target": "debug"}, "target"),
        ({"target": None}, "target"),
    ],
)
def test_an_event_field_that_disagrees_with_shipline_yaml_is_refused_by_name(
    fields: dict[str, object], refused: str
) -> None:
    change = configured_change(**fields)

    with pytest.raises(PermanentError, match=rf"ChangeDetected\.{refused} .*refused"):
        build_spec(change, PROJECT, "main")


def test_a_service_missing_from_shipline_yaml_at_the_commit_is_refused() -> None:
    change = change_for("127.0.0.1:5000/shop/ghost", "ghost", COMMIT, context="ghost")

    with pytest.raises(PermanentError, match="service ghost is not in shipline.yaml at 0123456"):
        build_spec(change, PROJECT, "main")


@pytest.mark.parametrize(
    ("ref", "tags", "from_ref"),
    [
        ("refs/heads/main", (SHA_TAG, "latest"), True),
        ("refs/heads/feature", (SHA_TAG,), False),
        ("refs/heads/main", (SHA_TAG,), False),  # a build asked for at a commit
        ("refs/tags/v1.2.0", ("v1.2.0",), True),
        ("refs/tags/release/2.0", ("release-2.0",), True),
        ("", (SHA_TAG,), False),
    ],
)
def test_tags_are_those_the_ref_gives(ref: str, tags: tuple[str, ...], from_ref: bool) -> None:
    spec = build_spec(configured_change(ref=ref, tags=tags), PROJECT, "main")

    assert (spec.tags, spec.tags_from_ref) == (tags, from_ref)


@pytest.mark.parametrize(
    ("ref", "tags", "refused"),
    [
        ("refs/heads/feature", (SHA_TAG, "latest"), "tags"),
        ("refs/heads/main", ("latest",), "tags"),
        ("refs/heads/main", ("sha-fffffff", "latest"), "tags"),
        ("refs/tags/v1.2.0", ("v9.9.9",), "tags"),
        ("refs/tags/v1.2.0", ("v1.2.0", "latest"), "tags"),
        ("", (SHA_TAG, "latest"), "tags"),
        ("refs/tags/sha-fffffff", ("sha-fffffff",), None),  # allowed, but only if the tag exists
        ("main", (SHA_TAG,), "source.ref"),
    ],
)
def test_tags_the_ref_does_not_give_are_refused(
    ref: str, tags: tuple[str, ...], refused: str | None
) -> None:
    change = configured_change(ref=ref, tags=tags)

    if refused is None:
        assert build_spec(change, PROJECT, "main").tags_from_ref
        return
    with pytest.raises(PermanentError, match=rf"ChangeDetected\.{refused} "):
        build_spec(change, PROJECT, "main")
