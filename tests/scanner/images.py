"""Real images for the scanner's tests: built on the session's dockerd, pushed to a registry."""

from __future__ import annotations

import io
import secrets
import string
import tarfile
from dataclasses import dataclass

import docker

from services.builder.docker_engine import DockerEngine
from services.common.events import ImagePushed, ScanBypass, Source
from services.common.registry_auth import RegistryLogin
from services.devenv.registry import Registry

COMMIT = "abc1234" + "0" * 33


@dataclass(frozen=True)
class Pushed:
    repository: str  # host/repo
    tag: str
    digest: str

    @property
    def by_digest(self) -> str:
        return f"{self.repository}@{self.digest}"

    def event(
        self,
        service: str = "svc",
        run_id: str = "run-1",
        commit: str = COMMIT,
        repository: str = "acme/microbank",
        skip_scan: ScanBypass | None = None,
    ) -> ImagePushed:
        return ImagePushed(
            run_id=run_id,
            service=service,
            source=Source(repository=repository, commit=commit, ref="refs/heads/main"),
            image_repository=self.repository,
            tags=(self.tag,),
            digest=self.digest,
            skip_scan=skip_scan,
        )


def aws_key_pair() -> str:
    """A freshly made AWS-style key pair, in the layout of an env file."""
    key_id = "AKIA" + "".join(
        secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)
    )
    alphabet = string.ascii_letters + string.digits + "+/"
    secret = "".join(secrets.choice(alphabet) for _ in range(40))
    return f"AWS_ACCESS_KEY_ID={key_id}\naws_secret_access_key = {secret}\n"


def private_key_pem() -> str:
    """A PEM block of fresh random key material, as a deploy key left in a build would be."""
    alphabet = string.ascii_letters + string.digits + "+/"
    body = "\n".join("".join(secrets.choice(alphabet) for _ in range(64)) for _ in range(12))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"


def build_and_push(
    client: docker.DockerClient,
    registry: Registry,
    repo: str,
    base_image: str,
    files: dict[str, str],
    login: RegistryLogin | None = None,
) -> Pushed:
    """An image of the base with each file copied into /app/, pushed under a fresh tag."""
    copies = "".join(f"COPY {name} /app/{name}\n" for name in files)
    members = {"Dockerfile": f"FROM {base_image}\n{copies}", **files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    repository = f"{registry.host}/{repo}"
    tag = "sha-" + secrets.token_hex(4)[:7]
    result = DockerEngine(client).build_and_push(
        buffer.getvalue(), "Dockerfile", repository, [tag], {}, login
    )
    return Pushed(repository, tag, result.digest)
