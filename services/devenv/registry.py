"""Start a real Docker registry (Debian ``docker-registry``, distribution v2) on loopback."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from services.devenv._process import die_with_parent, free_port, log_tail, terminate

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
_INDEX_TYPES = {
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
}


class RegistryError(RuntimeError):
    """docker-registry (or htpasswd) is missing, did not come up, or answered oddly."""


def htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd entry made by apache2-utils' ``htpasswd -Bbn``."""
    tool = shutil.which("htpasswd")
    if tool is None:
        raise RegistryError(
            "htpasswd not found on PATH (needed for registry auth): install it with "
            "`apt-get install apache2-utils` (or run `bash deploy/dev/bootstrap.sh`)"
        )
    result = subprocess.run(
        [tool, "-Bbn", username, password], capture_output=True, text=True, check=False
    )
    line = result.stdout.strip()
    if result.returncode != 0 or not line.startswith(f"{username}:$2"):
        raise RegistryError(f"htpasswd failed ({result.returncode}): {result.stderr.strip()}")
    return line


class Registry:
    """A throw-away registry on ``127.0.0.1:PORT`` storing blobs under ``workdir``.

    With ``username``/``password`` it requires htpasswd basic auth. Docker treats
    127.0.0.0/8 registries as insecure (plain HTTP) on its own, so pushes just work.
    """

    def __init__(
        self, workdir: Path, username: str | None = None, password: str | None = None
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.workdir = Path(workdir)
        self.username = username
        self.password = password
        self.port: int = 0
        self.log_path = self.workdir / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def host(self) -> str:
        if not self.port:
            raise RegistryError("Registry is not started")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    def start(self, timeout: float = 20.0) -> Registry:
        if self._process is not None:
            return self
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RegistryError(
                "docker-registry not found on PATH: install it with "
                "`apt-get install docker-registry` (or run `bash deploy/dev/bootstrap.sh`)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.auth is not None:
            (self.workdir / "htpasswd").write_text(htpasswd_line(*self.auth) + "\n")
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            config = self._write_config(port)
            if self._spawn(binary, config, port, timeout):
                self.port = port
                return self
        raise RegistryError(
            f"docker-registry did not answer GET /v2/ within {timeout}s; "
            f"log {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def _write_config(self, port: int) -> Path:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "fields": {"service": "registry"}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        }
        if self.auth is not None:
            config["auth"] = {
                "htpasswd": {"realm": "shipline-registry", "path": str(self.workdir / "htpasswd")}
            }
        path = self.workdir / "config.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
        return path

    def _spawn(self, binary: str, config: Path, port: int, timeout: float) -> bool:
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    break
                try:
                    status = client.get(f"http://127.0.0.1:{port}/v2/").status_code
                except httpx.HTTPError:
                    status = 0
                if status in (200, 401):
                    return True
                time.sleep(0.05)
        self.stop()
        return False

    def restart(self, timeout: float = 20.0) -> Registry:
        """Serve again on the same port after stop(): an outage that ends."""
        binary = shutil.which("docker-registry")
        if binary is None or not self.port or self._process is not None:
            raise RegistryError("restart() needs a registry that was started, then stopped")
        if not self._spawn(binary, self._write_config(self.port), self.port, timeout):
            raise RegistryError(f"docker-registry did not come back on port {self.port}")
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        terminate(process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- inspection helpers (HTTP API v2) -------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=self.auth, timeout=10.0)

    def _get_manifest(
        self, client: httpx.Client, repository: str, reference: str
    ) -> httpx.Response | None:
        response = client.get(
            f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        """The ``Docker-Content-Digest`` of ``repository:tag``, or None if it is absent."""
        with self._client() as client:
            response = self._get_manifest(client, repository, tag)
        return None if response is None else response.headers.get("Docker-Content-Digest")

    def tags(self, repository: str) -> list[str]:
        with self._client() as client:
            response = client.get(f"/v2/{repository}/tags/list")
            if response.status_code == 404:
                return []
            response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def config_labels(self, repository: str, tag: str) -> dict[str, str]:
        """``config.Labels`` of the image config behind ``repository:tag``."""
        with self._client() as client:
            response = self._get_manifest(client, repository, tag)
            if response is None:
                raise RegistryError(f"{repository}:{tag} not found in {self.host}")
            manifest = response.json()
            if manifest.get("mediaType") in _INDEX_TYPES or "manifests" in manifest:
                entries = manifest.get("manifests") or []
                chosen = next(
                    (
                        e
                        for e in entries
                        if e.get("platform", {}).get("architecture") == "amd64"
                        and e.get("platform", {}).get("os") == "linux"
                    ),
                    entries[0] if entries else None,
                )
                if chosen is None:
                    raise RegistryError(f"{repository}:{tag} is an empty index")
                response = self._get_manifest(client, repository, chosen["digest"])
                if response is None:
                    raise RegistryError(f"{repository}@{chosen['digest']} not found")
                manifest = response.json()
            blob = client.get(
                f"/v2/{repository}/blobs/{manifest['config']['digest']}", follow_redirects=True
            )
            blob.raise_for_status()
        return dict(blob.json().get("config", {}).get("Labels") or {})
