"""The per-pod engine of deploy/kubernetes/optional/builder-engine, run for real: the
sidecar's own command and environment, read from the Component (its volume paths moved to
directories of the test), start a rootless dockerd (RootlessKit: user, mount and PID
namespaces, no root anywhere) serving the Docker API on a unix socket, which Shipline's
DockerEngine reaches through DOCKER_HOST, as the builder container reaches its sidecar.
Each engine gets fresh directories, like a pod's emptyDirs, so a second engine is a second
pod: what it reuses came through the registry.

What this machine needs (deploy/dev/bootstrap.sh sets it up; a missing piece fails the test,
never skips it): dockerd (docker.io), rootlesskit, newuidmap/newgidmap (uidmap), a non-root
user with /etc/subuid and /etc/subgid ranges (the test's own user, or, when the tests run
as root, `shipline-rootless`: newuidmap maps only a process whose gid is its user's own),
and unprivileged user namespaces (`unshare -U true`; kernel 6.18 here). Not covered here:
the pod's own confinement (hostUsers: false, procMount, seccomp and AppArmor profiles),
which only a cluster applies; tests/deploy/test_builder_engine_component.py checks that the
rendered pod asks for it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest
import yaml

from services.builder.docker_engine import BuildResult, DockerEngine
from services.common.errors import PermanentError
from services.devenv.private_dockerd import ping
from services.devenv.registry import Registry
from tests.builder.test_docker_engine import context_tar
from tests.deploy.manifests import KUBERNETES, Obj

pytestmark = pytest.mark.integration  # starts rootless dockerd processes of its own

ROOTLESS_USER = "shipline-rootless"
START_TIMEOUT = 90.0
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PATCH = KUBERNETES / "optional" / "builder-engine" / "builder-engine.yaml"
# The sidecar's volumes (builder-engine.yaml) → the directory each gets here.
VOLUMES = {
    "/run/shipline-engine": "socket",
    "/run/user/1000": "run",
    "/home/rootless/.local/share/docker": "data",
}


def sidecar() -> Obj:
    """The engine container exactly as the Component gives it to the builder's pod."""
    patch = yaml.safe_load(PATCH.read_text())
    [engine] = patch["spec"]["template"]["spec"]["initContainers"]
    return dict(engine)


def on_this_machine(text: str, root: Path) -> str:
    """`text` with the sidecar's volume paths moved under `root`."""
    for path, name in VOLUMES.items():
        text = text.replace(path, str(root / name))
    return text


def _user() -> pwd.struct_passwd:
    """Who runs the engine: the tests' own user, or shipline-rootless when they run as root."""
    if os.getuid() != 0:
        return pwd.getpwuid(os.getuid())
    try:
        return pwd.getpwnam(ROOTLESS_USER)
    except KeyError:
        pytest.fail(
            f"no user {ROOTLESS_USER}: a rootless dockerd needs a non-root user with subordinate "
            "ids; create it with `bash deploy/dev/bootstrap.sh`",
            pytrace=False,
        )


def _require_rootless_tools(user: pwd.struct_passwd) -> None:
    missing = [tool for tool in ("dockerd", "rootlesskit", "newuidmap", "newgidmap")
               if not shutil.which(tool, path=PATH)]  # fmt: skip
    for ids in ("/etc/subuid", "/etc/subgid"):
        text = Path(ids).read_text() if Path(ids).exists() else ""
        if not any(line.split(":")[0] in (user.pw_name, str(user.pw_uid)) for line in text.split()):
            missing.append(f"{user.pw_name}'s range in {ids}")
    if missing:
        pytest.fail(
            f"a rootless dockerd needs {', '.join(missing)}: run `bash deploy/dev/bootstrap.sh` "
            "(packages rootlesskit and uidmap, the shipline-rootless user)",
            pytrace=False,
        )


class RootlessEngine:
    """One rootless dockerd on a unix socket in a fresh directory: a builder pod's sidecar."""

    def __init__(self, user: pwd.struct_passwd) -> None:
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix="shr-", dir="/tmp"))  # socket paths ≤ 108
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self._log = (self.root / "engine.log").open("wb")
        for name in VOLUMES.values():  # the pod's emptyDirs
            (self.root / name).mkdir()
            os.chown(self.root / name, user.pw_uid, user.pw_gid)
        engine = sidecar()
        env = {e["name"]: on_this_machine(e["value"], self.root) for e in engine["env"]}
        env.update(PATH=PATH, HOME=user.pw_dir)
        self.host = env["DOCKER_HOST"]
        self.socket = Path(self.host.removeprefix("unix://"))
        argv = [on_this_machine(arg, self.root) for arg in engine["command"]]
        if os.getuid() == 0:
            argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                    "--clear-groups", *argv]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(self.host):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the rootless dockerd did not come up:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self) -> str:
        return "\n".join((self.root / "engine.log").read_text(errors="replace").splitlines()[-30:])

    def dockerd_uid(self) -> int:
        """The real uid of the dockerd serving the socket, as the host sees it."""
        pid = int((self.root / "run" / "docker.pid").read_text())
        status = Path(f"/proc/{pid}/status").read_text()
        [uid_line] = [line for line in status.splitlines() if line.startswith("Uid:")]
        return int(uid_line.split()[1])

    def stop(self) -> None:
        if self._log.closed:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)
        self._log.close()
        self._remove_root()

    def _remove_root(self) -> None:
        """The data-root holds files of the user's subordinate ids: root removes them, the
        user only from inside a user namespace of its own."""
        if os.getuid() != 0:
            subprocess.run(  # noqa: S603 - fixed argv
                ["rootlesskit", "--net=host", "rm", "-rf", str(self.root)],
                env={"PATH": PATH, "XDG_RUNTIME_DIR": str(self.root)},
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


StartEngine = Callable[[], RootlessEngine]


@pytest.fixture
def start_engine() -> Iterator[StartEngine]:
    user = _user()
    _require_rootless_tools(user)
    engines: list[RootlessEngine] = []

    def start() -> RootlessEngine:
        engines.append(RootlessEngine(user))
        return engines[-1]

    yield start
    for engine in engines:
        engine.stop()


@pytest.fixture
def registry_base(docker_client: docker.DockerClient, base_image: str, registry: Registry) -> str:
    """The busybox base in the registry: a sidecar engine starts empty and pulls its bases."""
    reference = f"{registry.host}/rootless-base/busybox"
    docker_client.images.get(base_image).tag(reference, "1")
    docker_client.images.push(reference, "1")
    return f"{reference}:1"


def manifest_layers(registry: Registry, repository: str, tag: str) -> list[str]:
    with httpx.Client(base_url=registry.url, timeout=10) as client:
        response = client.get(
            f"/v2/{repository}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        response.raise_for_status()
    return [layer["digest"] for layer in response.json()["layers"]]


def test_the_sidecars_command_runs_a_rootless_dockerd_that_shiplines_engine_builds_on_by_socket(
    start_engine: StartEngine,
    registry_base: str,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sidecar = start_engine()
    monkeypatch.setenv("DOCKER_HOST", sidecar.host)  # what the builder container is given
    engine = DockerEngine()
    name = f"rootless{uuid.uuid4().hex[:8]}/svc"
    dockerfile = f"FROM {registry_base}\nCOPY app.txt /app.txt\nRUN cp /app.txt /copy.txt\n"

    result = engine.build_and_push(
        context_tar({"Dockerfile": dockerfile, "app.txt": "hello\n"}),
        "Dockerfile",
        f"{registry.host}/{name}",
        ["sha-1111111"],
        {},
        None,
    )

    info = docker.DockerClient(base_url=sidecar.host).info()
    socket = sidecar.socket.stat()
    assert "name=rootless" in info["SecurityOptions"]
    assert (socket.st_gid, socket.st_mode & 0o777) == (sidecar.user.pw_gid, 0o660)
    assert sidecar.dockerd_uid() == sidecar.user.pw_uid != 0
    assert engine._buildkit  # the engine's BuildKit, not the classic builder
    assert registry.manifest_digest(name, "sha-1111111") == result.digest


def test_a_fresh_pods_engine_reuses_the_previous_images_layers_through_the_registry(
    start_engine: StartEngine, registry_base: str, registry: Registry
) -> None:
    """Two engines with data-roots of their own, like two pods' emptyDirs: the RUN step
    writes a random value, so identical layers prove the second engine did not run it."""
    name = f"rootlesscache{uuid.uuid4().hex[:8]}/svc"
    repository = f"{registry.host}/{name}"
    dockerfile = (
        f"FROM {registry_base}\n"
        "RUN cat /proc/sys/kernel/random/uuid > /stamp\n"
        "COPY app.txt /app.txt\n"
    )

    def build(on: RootlessEngine, version: str, tag: str) -> BuildResult:
        engine = DockerEngine(docker.DockerClient(base_url=on.host, timeout=300))
        return engine.build_and_push(
            context_tar({"Dockerfile": dockerfile, "app.txt": version}),
            "Dockerfile",
            repository,
            [tag],
            {},
            None,
            cache_from=[f"{repository}:sha-1111111"],
        )

    first_pod = start_engine()
    build(first_pod, "one", "sha-1111111")
    first_pod.stop()  # the pod is gone, and its engine's cache with it
    second = build(start_engine(), "two", "sha-2222222")

    first_layers = manifest_layers(registry, name, "sha-1111111")
    second_layers = manifest_layers(registry, name, "sha-2222222")
    assert second.cache_source == f"{repository}:sha-1111111"
    assert second.cached_steps == 1
    assert second_layers[:-1] == first_layers[:-1]  # the base and the RUN step's stamp
    assert second_layers[-1] != first_layers[-1]  # the changed COPY


def test_a_service_asking_for_network_in_its_run_steps_is_refused_by_the_sidecar_with_why(
    start_engine: StartEngine, registry_base: str, registry: Registry
) -> None:
    engine = DockerEngine(docker.DockerClient(base_url=start_engine().host, timeout=300))
    dockerfile = f"FROM {registry_base}\nRUN true\n"

    with pytest.raises(PermanentError, match="no bridge network") as refused:
        engine.build_and_push(
            context_tar({"Dockerfile": dockerfile}),
            "Dockerfile",
            f"{registry.host}/rootlessnet{uuid.uuid4().hex[:8]}/svc",
            ["sha-1111111"],
            {},
            None,
            network=True,
        )

    assert "builds never get the host's network" in str(refused.value)
