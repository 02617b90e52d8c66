"""Which secrets each Shipline process uses, and the check it makes of them at start.

Every process reads the same settings, but a process is given only the secret files it
uses (docs/deploy.md "Secrets"): the gateway the webhook secrets and API tokens, the
builder the registry push credentials, and so on. At start a process checks the secrets
it uses, and only those: each file is there and, in prod, no value is a placeholder. A
file it does not use may be missing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from services.common.secret_files import FileSecret, known_value

if TYPE_CHECKING:
    from services.common.repository_settings import GitCredentials
    from services.common.settings import Settings

PROCESSES = ("gateway", "detector", "builder", "scanner", "committer", "notifier", "verifier")
# Who reads a repository's shipline.yaml and code (mirrors.py), and who reads or writes a
# gitops repository: the committer pushes, the detector surveys its manifests, the
# verifier checks that a synced revision contains a commit. The gateway has no git.
SOURCE_READERS = frozenset({"detector", "builder", "scanner", "committer"})
GITOPS_USERS = frozenset({"detector", "committer"})  # + the verifier, by cluster
# The builder pushes; the scanner pulls (Trivy); the detector and the committer look up
# the image of a deploy or rollback by hand (common/image_lookup.py). Not the gateway.
REGISTRY_USERS = frozenset({"detector", "builder", "scanner", "committer"})
COMMITTER = frozenset({"committer"})
# A source repository's host: the committer's pull requests, the scanner's code scanning,
# the notifier's Releases of release tags
SOURCE_HOST_USERS = frozenset({"committer", "scanner", "notifier"})
PLACEHOLDERS = {"", "changeme", "change-me", "secret", "password", "dev", "devsecret"}
CHANNEL_SECRET_KEYS = ("url", "secret", "token", "username", "password")


@dataclass(frozen=True)
class SecretUse:
    key: str  # where the settings hold it, e.g. "repositories.0.webhook_secret"
    value: SecretStr | Path  # a Path: a file handed to another program (ssh)
    processes: frozenset[str]  # the processes that read it
    guarded: bool = False  # prod refuses a placeholder: one a sender could guess lets it in


def secret_uses(settings: Settings) -> Iterator[SecretUse]:
    """Every secret of the settings, with the processes that use it."""
    for index, repo in enumerate(settings.repositories):
        gateway = frozenset({"gateway"})
        key = f"repositories.{index}.webhook_secret"
        yield SecretUse(key, repo.webhook_secret, gateway, guarded=True)
        readers = SOURCE_READERS | GITOPS_USERS | _verifier_of(settings, repo.name)
        yield from _git(f"repositories.{index}.credentials", repo.credentials, readers)
        if repo.host is not None:  # services/githost/
            yield SecretUse(f"repositories.{index}.host.token", repo.host.token, SOURCE_HOST_USERS)
    for index, remote in enumerate(settings.gitops_repositories):
        users = GITOPS_USERS | _verifier_of(settings, remote.name)
        yield from _git(f"gitops_repositories.{index}.credentials", remote.credentials, users)
        if remote.host is not None:
            key = f"gitops_repositories.{index}.host.token"
            yield SecretUse(key, remote.host.token, COMMITTER)
    for host, credential in settings.registry_auth.items():
        yield SecretUse(f"registry_auth.{host}.password", credential.password, REGISTRY_USERS)
    for index, entry in enumerate(settings.api_tokens):
        token = entry if isinstance(entry, SecretStr) else entry.token
        yield SecretUse(f"api_tokens.{index}.token", token, frozenset({"gateway"}), guarded=True)
    if settings.scanner.server_token is not None:
        token = settings.scanner.server_token
        yield SecretUse("scanner.server_token", token, frozenset({"scanner"}))
    for index, channel in enumerate(settings.notifications):
        for key in CHANNEL_SECRET_KEYS:
            value = getattr(channel, key, None)
            if isinstance(value, SecretStr):
                where, signs = f"notifications.{index}.{key}", key in ("secret", "token")
                yield SecretUse(where, value, frozenset({"notifier"}), guarded=signs)
    # clusters[].kubeconfig is the verifier's too; the Kubernetes client names it when missing


def _verifier_of(settings: Settings, remote: str) -> frozenset[str]:
    """The verifier reads a gitops repository that a configured cluster may run."""
    serves = any(c.gitops_repository in (None, remote) for c in settings.clusters)
    return frozenset({"verifier"}) if serves else frozenset()


def _git(
    prefix: str, credentials: GitCredentials | None, processes: frozenset[str]
) -> Iterator[SecretUse]:
    if credentials is None:
        return
    for key in ("token", "ssh_key"):
        value = getattr(credentials, key)
        if value is not None:
            yield SecretUse(f"{prefix}.{key}", value, processes)
    for key in ("ssh_key_file", "known_hosts_file"):
        path = getattr(credentials, key)
        if path is not None:
            yield SecretUse(f"{prefix}.{key}", path, processes)


def prod_problems(settings: Settings) -> list[str]:
    """What prod refuses among the secrets this process can read: a placeholder value, an
    ssh key without the host keys to trust (a first-use key could be anyone's)."""
    problems = []
    for use in secret_uses(settings):
        value = known_value(use.value) if isinstance(use.value, SecretStr) else None
        if use.guarded and value is not None and is_placeholder(value):
            problems.append(f"{use.key} is a placeholder")
        key_given = use.key.endswith((".ssh_key", ".ssh_key_file"))
        if key_given and not any(u.key == _sibling(use.key) for u in secret_uses(settings)):
            problems.append(
                f"{_sibling(use.key)} is required in prod with an ssh key: the host keys "
                "to trust (e.g. a ConfigMap of ssh-keyscan's output, fingerprints checked)"
            )
    return problems


def _sibling(key: str) -> str:
    return key.rsplit(".", 1)[0] + ".known_hosts_file"


def missing_secrets(settings: Settings, processes: Collection[str]) -> list[str]:
    """What `processes` use and cannot read: a file named by the settings that is not
    there; and in prod, API tokens when the gateway is among them."""
    problems = []
    for use in secret_uses(settings):
        if not use.processes & set(processes):
            continue
        who = ", ".join(p for p in PROCESSES if p in use.processes and p in processes)
        if isinstance(use.value, FileSecret) and not use.value.readable():
            key = use.key.rsplit(".", 1)[0] + "." + use.value.key
            problems.append(f"{key}: {use.value.path} cannot be read (the {who} uses it)")
        elif isinstance(use.value, Path) and not use.value.is_file():
            problems.append(f"{use.key}: {use.value} is not a file (the {who} uses it)")
    if settings.env == "prod" and "gateway" in processes and not settings.api_tokens:
        problems.append("api_tokens must hold real tokens (16+ characters) in prod")
    return problems


def is_placeholder(value: str) -> bool:
    return value.lower() in PLACEHOLDERS or len(value) < 16
