"""Each Deployment holds only its own secrets (docs/deploy.md "Secrets"): the rendered
manifests mount into each exactly the Secrets of the table, and with exactly those files
each process's settings load; ssh host keys come from the ConfigMap; no example puts a
token in a clone URL."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import load_settings
from tests.deploy.manifests import REPO, Obj, container, of_kind, server_config

SECRET_ROOT = "/run/secrets/shipline"
KNOWN_HOSTS = "/etc/shipline/known_hosts"
# docs/deploy.md's table: the Secrets each Deployment may reference, in any way.
SECRETS_OF = {
    "shipline-gateway": {"shipline-webhook-secrets", "shipline-api-tokens"},
    "shipline-detector": {"shipline-git-read", "shipline-registry-pull"},
    "shipline-builder": {"shipline-git-read", "shipline-registry-push", "shipline-docker-tls"},
    "shipline-scanner": {"shipline-git-read", "shipline-registry-pull", "shipline-trivy"},
    "shipline-committer": {"shipline-git-write", "shipline-registry-pull"},
    "shipline-notifier": {"shipline-notifications"},
    "shipline-verifier": {"shipline-git-read"},
}
SECRETS_OF_STAGES = set().union(*SECRETS_OF.values()) - {"shipline-docker-tls"}
GIT_STAGES = {"detector", "builder", "scanner", "committer", "verifier"}


def referenced_secrets(deployment: Obj) -> set[str]:
    spec = deployment["spec"]["template"]["spec"]
    names = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    box = container(deployment)
    names |= {s["secretRef"]["name"] for s in box.get("envFrom", []) if "secretRef" in s}
    names |= {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in box.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    return names


def secret_mounts(deployment: Obj) -> dict[str, str]:
    """Mount path -> the Secret mounted there."""
    spec = deployment["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    return {
        m["mountPath"]: secrets[m["name"]]
        for m in container(deployment)["volumeMounts"]
        if m["name"] in secrets
    }


def file_keys(node: Any) -> list[str]:
    """Every file the settings name for a secret or a host key."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k.endswith("_file") and isinstance(v, str)]
        return found + [f for v in node.values() for f in file_keys(v)]
    if isinstance(node, list):
        return [f for item in node for f in file_keys(item)]
    return []


def test_each_deployment_references_only_the_secrets_of_the_table(
    overlay: str, objects: list[Obj]
) -> None:
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == set(SECRETS_OF)
    for name, deployment in deployments.items():
        expected = {"shipline-redis"} | SECRETS_OF[name]
        if overlay == "dev" and name == "shipline-builder":
            expected -= {"shipline-docker-tls"}  # the node's socket instead
        assert referenced_secrets(deployment) == expected, name


def test_no_pod_takes_a_secret_as_environment_variables_wholesale(objects: list[Obj]) -> None:
    for deployment in of_kind(objects, "Deployment").values():
        assert not container(deployment).get("envFrom"), deployment["metadata"]["name"]


def test_secret_files_are_mounted_read_only_and_not_world_readable(objects: list[Obj]) -> None:
    for name, deployment in of_kind(objects, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        secret_volumes = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
        for mount in container(deployment)["volumeMounts"]:
            if mount["name"] in secret_volumes and mount["mountPath"].startswith(SECRET_ROOT):
                assert mount.get("readOnly") is True, (name, mount)
                assert secret_volumes[mount["name"]]["defaultMode"] & 0o007 == 0, name


@pytest.mark.parametrize("stage", sorted(s.removeprefix("shipline-") for s in SECRETS_OF))
def test_with_exactly_its_mounted_files_each_process_starts_and_uses_nothing_else(
    objects: list[Obj], stage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pod's file system, rebuilt under tmp_path: the rendered config.yaml, and for
    each Secret the Deployment mounts, the files config.yaml names under its mount path
    (dev: the rendered Secret's values; prod: what an operator creates)."""
    deployment = of_kind(objects, "Deployment")[f"shipline-{stage}"]
    rendered = of_kind(objects, "Secret")
    config = server_config(objects)
    root = tmp_path / "pod"
    mounts = secret_mounts(deployment)
    for path in file_keys(config):
        for mount_path, secret in mounts.items():
            if path.startswith(mount_path + "/"):
                key = path.removeprefix(mount_path + "/")
                values = rendered.get(secret, {}).get("stringData", {})
                target = root / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(values.get(key, "an-operator-made-secret-0123456789"))
    if stage in GIT_STAGES:  # the ConfigMap's known_hosts item
        [config_map] = of_kind(objects, "ConfigMap").values()
        known_hosts = root / KNOWN_HOSTS.lstrip("/")
        known_hosts.parent.mkdir(parents=True, exist_ok=True)
        known_hosts.write_text(config_map["data"]["known_hosts"])
    text = yaml.safe_dump(config).replace(SECRET_ROOT, f"{root}{SECRET_ROOT}")
    text = text.replace(KNOWN_HOSTS, f"{root}{KNOWN_HOSTS}")
    (tmp_path / "config.yaml").write_text(text)
    for name in [name for name in os.environ if name.startswith("SHIPLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPLINE_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("SHIPLINE_REDIS_URL", "redis://:a-real-redis-password-0123@redis:6379/0")

    settings = load_settings([stage])

    assert settings.workdir == Path("/var/lib/shipline")


def test_git_stages_trust_the_host_keys_of_the_config_map_read_only(objects: list[Obj]) -> None:
    [config_map] = of_kind(objects, "ConfigMap").values()
    assert "known_hosts" in config_map["data"]
    config = server_config(objects)
    remotes = config.get("repositories", []) + config.get("gitops_repositories", [])
    for remote in remotes:
        assert remote["credentials"]["known_hosts_file"] == KNOWN_HOSTS, remote["name"]
    for name, deployment in of_kind(objects, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        [volume] = [v for v in spec["volumes"] if v["name"] == "config"]
        items = {i["key"] for i in volume["configMap"]["items"]}
        [mount] = [m for m in container(deployment)["volumeMounts"] if m["name"] == "config"]
        assert mount["readOnly"] is True and mount["mountPath"] == "/etc/shipline"
        assert ("known_hosts" in items) == (name.removeprefix("shipline-") in GIT_STAGES), name


# https://user:token@host/..., https://token@host/...: a credential in a URL's user info.
URL_WITH_CREDENTIALS = re.compile(r"\bhttps?://[^/\s\"'`@]+@[^\s\"'`]")
EXAMPLES = [
    *sorted((REPO / "docs").glob("**/*.md")),
    *sorted(p for p in (REPO / "deploy").rglob("*") if p.is_file() and p.suffix != ".pem"),
    REPO / ".env.example",
    REPO / "docker-compose.yml",
    REPO / "README.md",
]


def test_no_example_puts_a_token_in_a_clone_url() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in EXAMPLES
        if path.is_file()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if URL_WITH_CREDENTIALS.search(line)
    ]
    assert not found, "\n".join(found)
