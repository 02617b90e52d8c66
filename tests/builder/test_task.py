"""The builder's pure helpers: OCI labels for the image and the registry login to push with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.builder.plan import oci_labels
from services.common.events import ChangeDetected, Source
from services.common.registry_auth import RegistryLogin, registry_login
from services.common.settings import Settings

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def change(tags: tuple[str, ...] = ("sha-0123456", "latest")) -> ChangeDetected:
    return ChangeDetected(
        run_id="run-1",
        service="user-service",
        source=Source(repository="acme/microbank", commit=COMMIT, ref="refs/heads/main"),
        context="user_service",
        dockerfile="Dockerfile",
        image_repository="127.0.0.1:5000/microbank/user-service",
        tags=tags,
        reason="paths",
    )


def settings(**registry_auth: dict[str, str]) -> Settings:
    return Settings(repositories=[], registry_auth=registry_auth)


def test_oci_labels_name_the_source_revision_version_and_title() -> None:
    labels = oci_labels(change(), "https://github.com/acme/microbank.git")

    assert labels["org.opencontainers.image.source"] == "https://github.com/acme/microbank.git"
    assert labels["org.opencontainers.image.revision"] == COMMIT
    assert labels["org.opencontainers.image.version"] == "sha-0123456"
    assert labels["org.opencontainers.image.title"] == "user-service"
    assert all(isinstance(value, str) for value in labels.values())


def test_oci_label_version_is_the_release_tag_for_a_release_build() -> None:
    labels = oci_labels(change(tags=("v1.2.0",)), "file:///srv/git/microbank.git")

    assert labels["org.opencontainers.image.version"] == "v1.2.0"


def test_oci_label_created_is_the_build_time_in_utc() -> None:
    created = oci_labels(change(), "file:///srv/git/microbank.git")[
        "org.opencontainers.image.created"
    ]

    moment = datetime.fromisoformat(created)
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


def test_oci_source_label_never_carries_the_clone_credentials() -> None:
    labels = oci_labels(change(), "https://x-access-token:ghs_s3cr3tT0ken@github.com/acme/mb.git")

    source = labels["org.opencontainers.image.source"]
    assert "ghs_s3cr3tT0ken" not in source
    assert "x-access-token" not in source
    assert source.endswith("@github.com/acme/mb.git")
    assert not any("s3cr3t" in value for value in labels.values())


def test_registry_login_uses_the_credential_of_the_image_registry_host() -> None:
    configured = settings(**{"127.0.0.1:5000": {"username": "ci", "password": "pa55-word"}})

    login = registry_login(configured, "127.0.0.1:5000/microbank/user-service")

    assert login == RegistryLogin("ci", "pa55-word")


def test_registry_login_picks_the_host_among_several() -> None:
    configured = settings(
        **{
            "registry.example.com": {"username": "a", "password": "pw-a"},
            "127.0.0.1:5000": {"username": "b", "password": "pw-b"},
        }
    )

    assert registry_login(configured, "registry.example.com/team/svc") == RegistryLogin("a", "pw-a")
    assert registry_login(configured, "127.0.0.1:5000/svc") == RegistryLogin("b", "pw-b")


@pytest.mark.parametrize(
    "repository",
    [
        "127.0.0.1:5001/microbank/user-service",  # same host, other port
        "127.0.0.1/microbank/user-service",
        "other.example.com/127.0.0.1:5000/svc",
        "127.0.0.1:5000.evil.com/svc",
        "127.0.0.1.evil.com:5000/svc",
        "evil.com/127.0.0.1:5000",
    ],
)
def test_registry_login_is_none_for_a_registry_without_credentials(repository: str) -> None:
    configured = settings(**{"127.0.0.1:5000": {"username": "ci", "password": "pa55-word"}})

    assert registry_login(configured, repository) is None


def test_registry_login_is_none_when_no_registry_auth_is_configured() -> None:
    assert registry_login(settings(), "127.0.0.1:5000/microbank/user-service") is None


def test_registry_login_does_not_show_the_password_when_printed() -> None:
    login = registry_login(
        settings(**{"127.0.0.1:5000": {"username": "ci", "password": "pa55-word"}}),
        "127.0.0.1:5000/svc",
    )

    assert login is not None
    assert "pa55-word" not in repr(login)
    assert "pa55-word" not in str(login)


def test_registry_login_matches_the_host_whatever_its_case() -> None:
    configured = settings(**{"Registry.Example.com": {"username": "ci", "password": "pw"}})

    assert registry_login(configured, "registry.example.com/team/svc") == RegistryLogin("ci", "pw")


def test_registry_login_carries_the_token_realms_configured_for_the_host() -> None:
    credential = {"username": "ci", "password": "pw", "token_realm_hosts": ["gitlab.com"]}
    configured = settings(**{"registry.gitlab.com": credential})

    login = registry_login(configured, "registry.gitlab.com/group/svc")

    assert login is not None and login.token_realm_hosts == ("gitlab.com",)


def test_docker_hub_credentials_may_go_to_docker_hubs_own_token_service() -> None:
    configured = settings(**{"docker.io": {"username": "ci", "password": "pw"}})

    login = registry_login(configured, "acme/svc")

    assert login is not None and login.token_realm_hosts == ("auth.docker.io",)
