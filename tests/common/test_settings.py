from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.common.settings import LogChannelSettings, WebhookChannelSettings, load_settings

WEBHOOK_SECRET = "whsec-Zq8pLm2Vx7Rt4Nk9"
REGISTRY_PASSWORD = "regpass-Hh3Jk8Ll1Mm0Qq"
API_TOKEN = "tok-Aa1Bb2Cc3Dd4Ee5Ff6"
REDIS_PASSWORD = "redis-Pq7Rs8Tu9Vw0Xy"
REDIS_URL = f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"

VALID = f"""\
env: dev
redis_url: {REDIS_URL}
repositories:
  - name: acme/microbank
    url: https://git.example.com/acme/microbank.git
    webhook_secret: {WEBHOOK_SECRET}
    branches: [main, release]
registry_auth:
  "127.0.0.1:5000":
    username: shipline
    password: {REGISTRY_PASSWORD}
notifications:
  - type: webhook
    url: https://hooks.example.com/shipline
    events: [RunCompleted, ScanFailed]
  - type: log
api_tokens: [{API_TOKEN}]
"""


pytestmark = pytest.mark.usefixtures("no_shipline_environment")


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """Write the given YAML to a file and point SHIPLINE_CONFIG at it."""

    def write(text: str) -> Path:
        path = tmp_path / "shipline-server.yaml"
        path.write_text(text)
        monkeypatch.setenv("SHIPLINE_CONFIG", str(path))
        return path

    return write


def test_a_valid_file_loads_repositories(config_file):
    config_file(VALID)

    settings = load_settings()

    [repo] = settings.repositories
    assert repo.name == "acme/microbank"
    assert repo.url == "https://git.example.com/acme/microbank.git"
    assert repo.webhook_secret.get_secret_value() == WEBHOOK_SECRET
    assert repo.accepts_branch("release")
    assert not repo.accepts_branch("feature/x")
    assert settings.repository("acme/microbank") == repo
    assert settings.repository("acme/other") is None


def test_a_valid_file_loads_registry_auth_notifications_and_api_tokens(config_file):
    config_file(VALID)

    settings = load_settings()

    credential = settings.registry_auth["127.0.0.1:5000"]
    assert credential.username == "shipline"
    assert credential.password.get_secret_value() == REGISTRY_PASSWORD
    webhook, log = settings.notifications
    assert isinstance(webhook, WebhookChannelSettings)
    assert webhook.url == "https://hooks.example.com/shipline"
    assert webhook.events == ["RunCompleted", "ScanFailed"]
    assert isinstance(log, LogChannelSettings)
    assert [entry.token.get_secret_value() for entry in settings.api_tokens] == [API_TOKEN]
    assert settings.redis_url == REDIS_URL


def test_an_invalid_value_names_the_file_and_the_dotted_key(config_file):
    path = config_file(VALID.replace(f"webhook_secret: {WEBHOOK_SECRET}", "webhook_secret: [1]"))

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert str(path) in message
    assert "repositories.0.webhook_secret" in message


def test_an_unknown_key_names_the_file_and_the_dotted_key(config_file):
    path = config_file(VALID.replace("    username: shipline", "    user_name: shipline"))

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert str(path) in message
    assert "registry_auth.127.0.0.1:5000.user_name" in message


def test_an_unknown_notification_type_names_the_channel(config_file):
    config_file(VALID.replace("  - type: log", "  - type: carrier-pigeon"))

    with pytest.raises(ConfigError, match=r"notifications\.1"):
        load_settings()


def test_a_yaml_syntax_error_names_the_file(config_file):
    path = config_file("repositories:\n  - name: acme/microbank\n    url: [unclosed\n")

    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_settings()

    assert str(path) in str(caught.value)


def test_a_config_path_that_does_not_exist_is_a_config_error(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.yaml"
    monkeypatch.setenv("SHIPLINE_CONFIG", str(missing))

    with pytest.raises(ConfigError, match="does not exist") as caught:
        load_settings()

    assert str(missing) in str(caught.value)


def test_an_environment_variable_overrides_the_file(config_file, monkeypatch):
    config_file(VALID)
    monkeypatch.setenv("SHIPLINE_REDIS_URL", "redis://redis.internal:6380/3")

    settings = load_settings()

    assert settings.redis_url == "redis://redis.internal:6380/3"
    assert settings.repositories[0].name == "acme/microbank"


@pytest.mark.parametrize("placeholder", ["changeme", "ChangeMe", "secret", "fewer-than-16"])
def test_prod_refuses_a_placeholder_webhook_secret(config_file, placeholder):
    config_file(VALID.replace("env: dev", "env: prod").replace(WEBHOOK_SECRET, placeholder))

    with pytest.raises(ConfigError, match=r"repositories\.0\.webhook_secret is a placeholder"):
        load_settings()


def test_prod_refuses_placeholder_api_tokens(config_file):
    config_file(VALID.replace("env: dev", "env: prod").replace(API_TOKEN, "changeme"))

    with pytest.raises(ConfigError, match="api_tokens"):
        load_settings()


def test_prod_refuses_to_run_without_api_tokens(config_file):
    config_file(VALID.replace("env: dev", "env: prod").replace(f"api_tokens: [{API_TOKEN}]", ""))

    with pytest.raises(ConfigError, match="api_tokens"):
        load_settings()


def test_prod_accepts_real_secrets(config_file):
    config_file(VALID.replace("env: dev", "env: prod"))

    assert load_settings().env == "prod"


def _in_prod_with_redis_url(url: str) -> str:
    return VALID.replace("env: dev", "env: prod").replace(REDIS_URL, url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://shipline@127.0.0.1:6379/0",
        "unix:///run/redis/redis.sock?db=0",
        "redis://:changeme@127.0.0.1:6379/0",
        "redis://:fewer-than-16@127.0.0.1:6379/0",
    ],
)
def test_prod_refuses_a_redis_url_without_a_real_password(config_file, url):
    path = config_file(_in_prod_with_redis_url(url))

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert str(path) in message
    assert message.split(": ", 2)[1] == "redis_url"
    assert "--requirepass" in message and "redis://:PASSWORD@" in message
    assert url not in message


@pytest.mark.parametrize(
    "url",
    [
        f"unix://:{REDIS_PASSWORD}@/run/shipline/redis.sock?db=0",
        f"unix:///run/shipline/redis.sock?db=0&password={REDIS_PASSWORD}",
        f"rediss://shipline:{REDIS_PASSWORD}@redis.internal:6380/1",
    ],
)
def test_prod_accepts_a_redis_url_that_carries_a_real_password(config_file, url):
    config_file(_in_prod_with_redis_url(url))

    assert load_settings().redis_url == url


def test_dev_accepts_a_redis_url_without_a_password(config_file):
    config_file(VALID.replace(REDIS_URL, "redis://127.0.0.1:6379/0"))

    assert load_settings().redis_url == "redis://127.0.0.1:6379/0"


def test_prod_without_a_redis_url_is_left_to_the_embedded_redis(config_file):
    config_file(VALID.replace("env: dev", "env: prod").replace(f"redis_url: {REDIS_URL}\n", ""))

    assert load_settings().redis_url is None


def test_a_redis_url_of_another_scheme_is_refused_naming_the_forms(config_file):
    config_file(VALID.replace(REDIS_URL, f"http://:{REDIS_PASSWORD}@127.0.0.1:6379/0"))

    with pytest.raises(ConfigError, match=r"redis_url: .*must be a Redis URL") as caught:
        load_settings()

    assert REDIS_PASSWORD not in str(caught.value)


def test_the_settings_repr_does_not_show_the_redis_password(config_file):
    config_file(VALID)

    assert REDIS_PASSWORD not in repr(load_settings())


def test_dev_accepts_placeholder_secrets(config_file):
    config_file(VALID.replace(WEBHOOK_SECRET, "changeme"))

    assert load_settings().repositories[0].webhook_secret.get_secret_value() == "changeme"


def test_secrets_never_appear_in_the_settings_repr(config_file):
    config_file(VALID)

    text = repr(load_settings())

    assert "acme/microbank" in text
    for secret in (WEBHOOK_SECRET, REGISTRY_PASSWORD, API_TOKEN):
        assert secret not in text


def test_secrets_never_appear_in_a_config_error(config_file):
    distinctive = "whsec-DISTINCTIVE-9f8e7d6c5b4a"
    config_file(
        f"""\
env: staging
max_retries: {distinctive}
repositories:
  - name: not a repository name
    url: https://git.example.com/acme/microbank.git
    webhook_secret: {distinctive}
registry_auth:
  r.example.com:
    username: shipline
    password: [{distinctive}]
api_tokens: [[{distinctive}]]
"""
    )

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert "registry_auth.r.example.com.password" in message
    assert "max_retries" in message
    assert distinctive not in message
