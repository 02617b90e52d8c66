"""The registry adapter against the real docker-registry, plain and with htpasswd auth."""

from __future__ import annotations

import uuid

import docker
import httpx
import pytest

from services.builder.docker_engine import DockerEngine
from services.builder.registry import RegistryClient, is_loopback, split_repository
from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import RegistryLogin
from services.devenv.registry import Registry
from tests.builder.test_docker_engine import app_context, unused_port


@pytest.fixture
def login(auth_registry: Registry) -> RegistryLogin:
    assert auth_registry.auth is not None
    return RegistryLogin(*auth_registry.auth)


def push_image(
    docker_client: docker.DockerClient,
    base_image: str,
    registry: Registry,
    tags: list[str],
    labels: dict[str, str],
    login: RegistryLogin | None = None,
) -> tuple[str, str]:
    name = f"reg{uuid.uuid4().hex[:8]}/svc"
    result = DockerEngine(docker_client).build_and_push(
        app_context(base_image, name), "Dockerfile", f"{registry.host}/{name}", tags, labels, login
    )
    return name, result.digest


def test_a_tag_the_registry_does_not_hold_is_none(registry: Registry) -> None:
    with RegistryClient(registry.host) as client:
        assert client.image("nothing/here", "sha-0000000") is None
        assert client.digest("nothing/here", "latest") is None


def test_image_reports_the_digest_and_labels_the_push_left(
    docker_client: docker.DockerClient, base_image: str, registry: Registry
) -> None:
    labels = {"org.opencontainers.image.revision": "c" * 40}
    name, digest = push_image(docker_client, base_image, registry, ["sha-ccccccc"], labels)

    with RegistryClient(registry.host) as client:
        image = client.image(name, "sha-ccccccc")

    assert image is not None
    assert image.digest == digest == registry.manifest_digest(name, "sha-ccccccc")
    assert image.labels["org.opencontainers.image.revision"] == "c" * 40


def test_tag_points_one_more_tag_at_a_manifest_already_there(
    docker_client: docker.DockerClient, base_image: str, registry: Registry
) -> None:
    name, digest = push_image(docker_client, base_image, registry, ["sha-ddddddd"], {})

    with RegistryClient(registry.host) as client:
        client.tag(name, digest, "latest")
        assert client.digest(name, "latest") == digest

    assert registry.manifest_digest(name, "latest") == digest


def test_the_auth_registry_answers_with_the_right_login(
    docker_client: docker.DockerClient,
    base_image: str,
    auth_registry: Registry,
    login: RegistryLogin,
) -> None:
    labels = {"org.opencontainers.image.revision": "e" * 40}
    name, digest = push_image(docker_client, base_image, auth_registry, ["v1"], labels, login)

    with RegistryClient(auth_registry.host, login) as client:
        image = client.image(name, "v1")
        client.tag(name, digest, "stable")

    assert image is not None and image.digest == digest
    assert image.labels["org.opencontainers.image.revision"] == "e" * 40
    assert auth_registry.manifest_digest(name, "stable") == digest


def test_wrong_credentials_are_a_permanent_error_naming_registry_auth_never_the_password(
    auth_registry: Registry, login: RegistryLogin
) -> None:
    wrong = RegistryLogin(login.username, "not-" + login.password)

    with (
        RegistryClient(auth_registry.host, wrong) as client,
        pytest.raises(PermanentError) as caught,
    ):
        client.image("any/thing", "latest")

    message = str(caught.value)
    assert "registry_auth" in message and auth_registry.host in message
    assert wrong.password not in message and login.password not in message


def test_no_credentials_for_an_auth_registry_is_a_permanent_error(auth_registry: Registry) -> None:
    with (
        RegistryClient(auth_registry.host) as client,
        pytest.raises(PermanentError, match="requires"),
    ):
        client.image("any/thing", "latest")


def test_an_unreachable_registry_is_a_transient_error() -> None:
    with RegistryClient(f"127.0.0.1:{unused_port()}") as client, pytest.raises(TransientError):
        client.image("any/thing", "latest")


def test_a_bearer_challenge_is_answered_with_a_token_fetched_with_the_login() -> None:
    """Token auth as Docker Hub, GHCR or Harbor do it (no such registry runs here: simulated)."""
    seen: list[httpx.Request] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "auth.example.com":
            assert request.headers["Authorization"].startswith("Basic ")
            assert request.url.params["scope"] == "repository:team/api:pull"
            assert request.url.params["service"] == "registry.example.com"
            return httpx.Response(200, json={"token": "t0ken"})
        if request.headers.get("Authorization") != "Bearer t0ken":
            challenge = (
                'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
                'scope="repository:team/api:pull"'
            )
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    login = RegistryLogin("ci", "pw", token_realm_hosts=("auth.example.com",))
    client = RegistryClient("registry.example.com", login, transport=httpx.MockTransport(registry))
    with client:
        assert client.image("team/api", "latest") is None
        assert client.image("team/api", "other") is None

    assert seen[0].url.scheme == "https"
    assert sum(r.url.host == "auth.example.com" for r in seen) == 1  # the token is reused


def token_registry(realm: str, seen: list[httpx.Request]) -> httpx.MockTransport:
    """A registry on registry.example.com whose Bearer challenge names `realm`."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "t0ken"})
        if request.headers.get("Authorization") != "Bearer t0ken":
            challenge = f'Bearer realm="{realm}",service="registry.example.com"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    "realm",
    [
        "https://auth.example.com/token",  # another host, not configured
        "https://registry.example.com.evil.com/token",  # a name that only starts like it
        "https://registry.example.com:8443/token",  # another port
        "http://registry.example.com/token",  # the registry's host, but in clear text
        "http://auth.example.com/token",  # configured, but in clear text
    ],
)
def test_a_token_realm_on_another_host_never_gets_the_credentials(realm: str) -> None:
    seen: list[httpx.Request] = []
    login = RegistryLogin("ci", "pw-secret", token_realm_hosts=("AUTH.example.com",))
    if "auth.example.com" in realm and realm.startswith("https"):
        login = RegistryLogin("ci", "pw-secret")
    transport = token_registry(realm, seen)

    client = RegistryClient("registry.example.com", login, transport=transport)
    with client, pytest.raises(PermanentError, match="token_realm_hosts") as refused:
        client.image("team/api", "latest")

    assert "pw-secret" not in str(refused.value)
    assert [r.url.host for r in seen] == ["registry.example.com"]  # the realm was never asked
    assert all("Authorization" not in r.headers for r in seen)


def test_a_token_realm_on_the_registrys_own_host_gets_the_credentials() -> None:
    seen: list[httpx.Request] = []
    transport = token_registry("https://registry.example.com/token", seen)

    with RegistryClient(
        "registry.example.com", RegistryLogin("ci", "pw"), transport=transport
    ) as c:
        assert c.image("team/api", "latest") is None

    [token_request] = [r for r in seen if r.url.path == "/token"]
    assert token_request.headers["Authorization"].startswith("Basic ")


def test_without_credentials_a_token_is_asked_for_anonymously_wherever_the_realm_is() -> None:
    seen: list[httpx.Request] = []
    transport = token_registry("https://auth.example.com/token", seen)

    with RegistryClient("registry.example.com", transport=transport) as client:
        assert client.image("team/api", "latest") is None

    [token_request] = [r for r in seen if r.url.path == "/token"]
    assert token_request.url.host == "auth.example.com"
    assert "Authorization" not in token_request.headers


def test_a_server_error_is_transient_and_a_client_error_permanent() -> None:
    answers = iter([503, 400])

    def registry(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers))

    with RegistryClient("r.example.com", transport=httpx.MockTransport(registry)) as client:
        with pytest.raises(TransientError, match="503"):
            client.image("a/b", "t")
        with pytest.raises(PermanentError, match="400"):
            client.image("a/b", "t")


@pytest.mark.parametrize(
    ("image_repository", "expected"),
    [
        ("127.0.0.1:5000/microbank/user-service", ("127.0.0.1:5000", "microbank/user-service")),
        ("registry.example.com/team/api", ("registry.example.com", "team/api")),
        ("localhost/api", ("localhost", "api")),
        ("acme/api", ("docker.io", "acme/api")),
        ("api", ("docker.io", "library/api")),
    ],
)
def test_image_repositories_split_into_host_and_name_as_docker_does(
    image_repository: str, expected: tuple[str, str]
) -> None:
    assert split_repository(image_repository) == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("registry.example.com", False),
        ("10.0.0.5:5000", False),
        ("localhost.evil.com", False),
        ("localhost.evil.com:5000", False),
        ("127.0.0.1.evil.com", False),
        ("127.0.0.1.evil.com:5000", False),
        ("localhost:5000.evil.com", False),
    ],
)
def test_only_loopback_registries_are_spoken_to_over_plain_http(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
