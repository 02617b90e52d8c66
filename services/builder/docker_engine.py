"""The Docker engine, through the docker SDK: build a context tar, tag, push, report the digest.

Docker errors are translated here: a failing Dockerfile step or rejected credentials are
PermanentError; an unreachable engine or registry is TransientError.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import AUTH_FAILURES, RegistryLogin

LOG_TAIL = 30


@dataclass(frozen=True)
class BuildResult:
    digest: str
    seconds: float
    log_tail: tuple[str, ...]


class DockerEngine:
    """Builds and pushes images on the engine that DOCKER_HOST (or the default socket) names."""

    def __init__(self, client: docker.DockerClient | None = None, timeout: int = 1800) -> None:
        self._client = client or docker.from_env(timeout=timeout)

    def build_and_push(
        self,
        context_tar: bytes,
        dockerfile: str,
        repository: str,
        tags: Iterable[str],
        labels: Mapping[str, str],
        login: RegistryLogin | None,
    ) -> BuildResult:
        tags = list(tags)
        started = time.monotonic()
        try:
            image_id, log_tail = self._build(
                context_tar, dockerfile, f"{repository}:{tags[0]}", labels
            )
            for tag in tags[1:]:
                self._client.api.tag(image_id, repository, tag)
            digest = ""
            for tag in tags:
                digest = self._push(repository, tag, login)
        except docker.errors.APIError as exc:
            raise _api_error(exc) from None
        except requests.exceptions.ConnectionError as exc:
            raise TransientError(f"docker engine unreachable: {_short(exc)}") from None
        except docker.errors.DockerException as exc:  # raised before any request: bad input
            raise PermanentError(f"docker refused the request: {_short(exc)}") from None
        return BuildResult(digest, round(time.monotonic() - started, 3), log_tail)

    def _build(
        self, context_tar: bytes, dockerfile: str, reference: str, labels: Mapping[str, str]
    ) -> tuple[str, tuple[str, ...]]:
        lines: list[str] = []
        image_id = ""
        stream = self._client.api.build(
            fileobj=io.BytesIO(context_tar),
            custom_context=True,
            dockerfile=dockerfile,
            tag=reference,
            labels=dict(labels),
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "stream" in chunk:
                lines.extend(line for line in chunk["stream"].splitlines() if line.strip())
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if "error" in chunk:
                tail = "\n".join(lines[-LOG_TAIL:])
                raise PermanentError(f"docker build failed: {chunk['error'].strip()}\n{tail}")
        if not image_id:
            raise PermanentError("docker build finished without an image id")
        return image_id, tuple(lines[-LOG_TAIL:])

    def _push(self, repository: str, tag: str, login: RegistryLogin | None) -> str:
        auth = {"username": login.username, "password": login.password} if login else None
        digest = ""
        for chunk in self._client.api.push(
            repository, tag=tag, stream=True, decode=True, auth_config=auth
        ):
            digest = _digest_of(chunk) or digest
            if "error" in chunk:
                raise _push_error(repository, tag, chunk["error"])
        if not digest:
            raise TransientError(f"push of {repository}:{tag} reported no digest")
        return digest


def _digest_of(chunk: dict[str, Any]) -> str:
    aux = chunk.get("aux") or {}
    return str(aux.get("Digest", "")) if isinstance(aux, dict) else ""


def _push_error(repository: str, tag: str, message: str) -> Exception:
    lowered = message.lower()
    if any(word in lowered for word in AUTH_FAILURES):
        return PermanentError(
            f"registry refused {repository}:{tag}: {message.strip()} "
            "(check registry_auth for this registry host)"
        )
    return TransientError(f"push of {repository}:{tag} failed: {message.strip()}")


PERMANENT_BUILD_ERRORS = (
    "cannot locate specified dockerfile",
    "dockerfile parse error",
    "unknown instruction",
    "no build stage",
    "failed to process",
)


def _api_error(exc: docker.errors.APIError) -> Exception:
    """Bad input (a missing or unparsable Dockerfile, a 4xx) is permanent; the rest may pass."""
    message = _short(exc)
    explanation = str(getattr(exc, "explanation", "") or "").lower()
    if exc.is_client_error() or any(m in explanation for m in PERMANENT_BUILD_ERRORS):
        return PermanentError(f"docker build refused: {exc.explanation or message}")
    return TransientError(f"docker engine error: {message}")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:500]
