"""Each process starts with only its own secret files (docs/deploy.md "Secrets"): the
settings load, the stage's handler (or the gateway's app) builds; one of its own files
missing, it refuses to start naming the key and the file."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.cli import main
from services.common.errors import ConfigError
from services.common.runtime import Runtime
from services.common.settings import load_settings
from services.common.stage_secrets import PROCESSES
from services.common.worker import load_definition
from services.gateway.app import create_app
from services.verifier.task import make_handler as make_verifier_handler
from services.verifier.watches import Watches

SECRET_VALUES = {
    "webhook-acme-shop": "whsec-Zq8pLm2Vx7Rt4Nk9",
    "api-token": "tok-Aa1Bb2Cc3Dd4Ee5Ff6",
    "git-acme-shop": "ghp-read-Hh3Jk8Ll1Mm0Qq",
    "git-acme-gitops": "ghp-push-Rr4Ss5Tt6Uu7Vv",
    "registry": "regpass-Ww8Xx9Yy0Zz1Aa",
    "trivy-token": "trivy-Bb2Cc3Dd4Ee5Ff6",
    "webhook-signing": "sign-Gg7Hh8Ii9Jj0Kk1",
    "slack-url": "https://hooks.slack.com/services/T0/B0/Ll2Mm3Nn4",
    "github-token": "ghp-status-Oo5Pp6Qq7Rr8",
    "smtp-password": "smtp-Ss9Tt0Uu1Vv2Ww3",
}
# docs/deploy.md's table: the secret files each process is given, and nothing else.
FILES_OF = {
    "gateway": {"webhook-acme-shop", "api-token"},
    "detector": {"git-acme-shop", "git-acme-gitops", "registry"},
    "builder": {"git-acme-shop", "registry"},
    "scanner": {"git-acme-shop", "registry", "trivy-token"},
    "committer": {"git-acme-shop", "git-acme-gitops", "registry"},
    "notifier": {"webhook-signing", "slack-url", "github-token", "smtp-password"},
    "verifier": {"git-acme-gitops"},
}
# The key each file is named by, as a refusal names it.
KEY_OF = {
    "webhook-acme-shop": "repositories.0.webhook_secret_file",
    "api-token": "api_tokens.0.token_file",
    "git-acme-shop": "repositories.0.credentials.token_file",
    "git-acme-gitops": "gitops_repositories.0.credentials.token_file",
    "registry": "registry_auth.registry.example.com.password_file",
    "trivy-token": "scanner.server_token_file",
    "webhook-signing": "notifications.0.secret_file",
    "slack-url": "notifications.1.url_file",
    "github-token": "notifications.2.token_file",
    "smtp-password": "notifications.3.password_file",
}


def config(secrets: Path, workdir: Path, redis_url: str, trivy: Path) -> str:
    return f"""\
env: prod
redis_url: {redis_url}
workdir: {workdir}
repositories:
  - name: acme/shop
    url: https://git.example.com/acme/shop.git
    webhook_secret_file: {secrets}/webhook-acme-shop
    credentials:
      token_file: {secrets}/git-acme-shop
gitops_repositories:
  - name: acme/gitops
    url: https://git.example.com/acme/gitops.git
    credentials:
      token_file: {secrets}/git-acme-gitops
registry_auth:
  registry.example.com:
    username: shipline
    password_file: {secrets}/registry
api_tokens:
  - token_file: {secrets}/api-token
    name: operator
scanner:
  trivy_path: {trivy}
  server_url: http://trivy.example.com:4954
  server_token_file: {secrets}/trivy-token
notifications:
  - type: webhook
    url: https://hooks.example.com/shipline
    secret_file: {secrets}/webhook-signing
  - type: slack
    url_file: {secrets}/slack-url
  - type: github_status
    token_file: {secrets}/github-token
  - type: email
    host: smtp.example.com
    from: shipline@example.com
    to: [team@example.com]
    username: shipline
    password_file: {secrets}/smtp-password
clusters:
  - name: prod
    gitops_repository: acme/gitops
    in_cluster: true
    namespaces: [shop]
"""


pytestmark = pytest.mark.usefixtures("no_shipline_environment")


@pytest.fixture
def mount(tmp_path, monkeypatch, redis_url, trivy_path):
    """The shared settings file, and only the named secret files beside it (as a pod has)."""
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(config(secrets, tmp_path / "work", redis_url, trivy_path))
    monkeypatch.setenv("SHIPLINE_CONFIG", str(path))

    def given(names: set[str], values: dict[str, str] = SECRET_VALUES) -> Path:
        for name in names:
            (secrets / name).write_text(values[name] + "\n")
        return secrets

    return given


def build(process: str, runtime: Runtime) -> object:
    if process == "gateway":
        return create_app(runtime.settings, runtime)
    if process == "verifier":  # its cluster watches are another test's (tests/verifier)
        return make_verifier_handler(runtime, Watches([]))
    return load_definition(process).factory(runtime)


def test_the_table_names_every_process():
    assert set(FILES_OF) == set(PROCESSES)


@pytest.mark.parametrize("process", PROCESSES)
def test_a_process_starts_with_only_its_own_secret_files(mount, process, request, monkeypatch):
    mount(FILES_OF[process])
    if process == "builder":  # its handler connects to the engine when it is built
        monkeypatch.setenv("DOCKER_HOST", request.getfixturevalue("docker_host"))

    settings = load_settings([process])

    assert callable(build(process, Runtime(settings)))


@pytest.mark.parametrize(
    ("process", "missing"),
    [(process, name) for process, names in FILES_OF.items() for name in sorted(names)],
)
def test_a_process_without_one_of_its_secret_files_refuses_to_start_naming_it(
    mount, process, missing
):
    secrets = mount(FILES_OF[process] - {missing})

    with pytest.raises(ConfigError) as refused:
        load_settings([process])

    assert f"{KEY_OF[missing]}: {secrets / missing} cannot be read" in str(refused.value)
    assert f"the {process} uses it" in str(refused.value)


def test_shipline_up_needs_every_secret_file(mount):
    mount(set(SECRET_VALUES) - {"smtp-password"})

    with pytest.raises(ConfigError, match=r"notifications\.3\.password_file: .* cannot be read"):
        load_settings()


def test_a_worker_missing_its_secret_exits_at_start_with_the_key_and_file(mount):
    secrets = mount(FILES_OF["builder"] - {"registry"})

    result = CliRunner().invoke(main, ["worker", "builder"])

    assert result.exit_code == 1
    assert "registry_auth.registry.example.com.password_file" in result.output
    assert str(secrets / "registry") in result.output


def test_a_secret_is_read_from_its_file_and_never_shown(mount):
    mount(FILES_OF["builder"])

    settings = load_settings(["builder"])

    password = settings.registry_auth["registry.example.com"].password
    assert password.get_secret_value() == SECRET_VALUES["registry"]
    assert SECRET_VALUES["registry"] not in repr(settings) + str(settings.registry_auth)


def test_prod_refuses_a_placeholder_in_the_file_of_the_process_that_reads_it(mount):
    mount(FILES_OF["gateway"], {**SECRET_VALUES, "webhook-acme-shop": "changeme"})

    with pytest.raises(ConfigError, match=r"repositories\.0\.webhook_secret is a placeholder"):
        load_settings(["gateway"])


def test_prod_gateway_refuses_to_start_without_api_tokens(mount, tmp_path):
    mount(FILES_OF["gateway"] | FILES_OF["builder"])
    path = Path(os.environ["SHIPLINE_CONFIG"])
    text = path.read_text()
    path.write_text(text.replace(text[text.index("api_tokens:") : text.index("scanner:")], ""))

    assert load_settings(["builder"]).api_tokens == []
    with pytest.raises(ConfigError, match="api_tokens must hold real tokens"):
        load_settings(["gateway"])


def test_a_secret_given_both_inline_and_as_a_file_is_refused(mount):
    secrets = mount(FILES_OF["builder"])
    path = Path(os.environ["SHIPLINE_CONFIG"])
    path.write_text(
        path.read_text().replace(
            f"password_file: {secrets}/registry",
            f"password_file: {secrets}/registry\n    password: regpass-inline-0123456789",
        )
    )

    with pytest.raises(ConfigError, match="give password or password_file, not both"):
        load_settings(["builder"])


def test_prod_refuses_an_ssh_key_without_the_host_keys_to_trust(mount, tmp_path):
    mount(FILES_OF["detector"])
    key = tmp_path / "deploy-key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    path = Path(os.environ["SHIPLINE_CONFIG"])
    text = path.read_text().replace(
        f"token_file: {tmp_path}/run-secrets/git-acme-shop", f"ssh_key_file: {key}"
    )
    path.write_text(text)

    with pytest.raises(ConfigError, match=r"credentials\.known_hosts_file is required in prod"):
        load_settings(["detector"])

    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n")
    path.write_text(
        text.replace(
            f"ssh_key_file: {key}", f"ssh_key_file: {key}\n      known_hosts_file: {known_hosts}"
        )
    )
    assert load_settings(["detector"]).repositories[0].credentials is not None
