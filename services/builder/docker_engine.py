"""The Docker engine, through the docker SDK: pull a cache source, build a context tar, tag,
push, report the digest.

Builds run on the engine's BuildKit (``builder.backend: buildkit``, the default: about half
the engine CPU per build) or on the classic builder. RUN steps get no network unless the
service opts in, and then the engine's bridge, never the host's (its loopback holds
Shipline's own services). A watchdog (services/builder/watch.py) enforces the deadline and
``interrupt()``: it shuts the request in flight and cancels the build in the engine. Tags
are pushed with the first one last, so a registry holding the first tag holds them all.
Errors are translated here: a failing step or rejected credentials are PermanentError; an
unreachable engine or registry is TransientError (a push is retried a few times first).
"""

from __future__ import annotations

import functools
import io
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

import docker
import docker.errors
import requests
import requests.exceptions

from services.builder.buildkit import Progress
from services.builder.logs import EngineLog, LineSink
from services.builder.watch import (
    STREAM_ERRORS,
    Interrupt,
    Watch,
    forget_response,
    remember_response,
)
from services.builder.watch import BuildInterrupted as BuildInterrupted  # part of this API
from services.common.errors import PermanentError, ShiplineError, TransientError
from services.common.registry_auth import AUTH_FAILURES, RegistryLogin

PUSH_ATTEMPTS = 3

Backend = Literal["buildkit", "classic"]
Retag = Callable[[str, str], None]  # (digest, tag): point a tag at a pushed manifest
ContextTar = bytes | IO[bytes]  # the build context, whole or streamed from a file


@dataclass(frozen=True)
class BuildResult:
    digest: str
    seconds: float
    log_tail: tuple[str, ...]
    cached_steps: int = 0  # Dockerfile steps the layer cache answered
    cache_source: str | None = None  # the pulled image offered as cache, if any


class DockerEngine:
    """Builds and pushes images on the engine that DOCKER_HOST (or the default socket) names."""

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        timeout: int = 1800,
        backend: Backend = "buildkit",
    ) -> None:
        self._client = client or docker.from_env(timeout=timeout)
        self._backend = backend
        hooks = self._client.api.hooks["response"]
        if remember_response not in hooks:
            hooks.append(remember_response)

    @functools.cached_property
    def _buildkit(self) -> bool:
        """BuildKit when asked for and the engine has it (Linux, API 1.39 or later)."""
        if self._backend != "buildkit":
            return False
        version = self._client.api.version()
        api_version = str(version.get("ApiVersion", "0"))
        return version.get("Os") == "linux" and docker.utils.version_gte(api_version, "1.39")

    @functools.cached_property
    def _has_bridge(self) -> bool:
        names = {network["Name"] for network in self._client.api.networks(names=["bridge"])}
        return "bridge" in names

    def _network_mode(self, network: bool) -> str:
        """RUN steps' network (the build API's `networkmode`, both builders): `none`, or with
        `network` the engine's bridge (`default`); never `host`, which would hand a build the
        loopback services of the engine's host (Shipline's Redis and API among them)."""
        if not network:
            return "none"
        if not self._has_bridge:
            raise PermanentError(
                "the docker engine has no bridge network (dockerd --bridge=none): a service "
                "that opts into network for its RUN steps (shipline.yaml `network: true`) needs "
                "an engine with one; builds never get the host's network"
            )
        return "default"

    def build_and_push(
        self,
        context_tar: ContextTar,
        dockerfile: str,
        repository: str,
        tags: Iterable[str],
        labels: Mapping[str, str],
        login: RegistryLogin | None,
        *,
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
        network: bool = False,
        cache_from: Sequence[str] = (),
        on_line: LineSink | None = None,
        timeout: float | None = None,
        interrupt: Interrupt | None = None,
        retag: Retag | None = None,
    ) -> BuildResult:
        """Build `context_tar`, tag it `repository:tag` for every tag, push them (first tag last).

        `cache_from` names earlier images of the service; the first one that can be pulled
        is the layer cache source. RUN steps get no network unless `network` (then the
        engine's bridge). `timeout` bounds the whole call, `interrupt` may stop it.
        With `retag(digest, tag)`, the engine pushes one tag and the others are pointed at
        the pushed manifest through the registry: one request each instead of an engine push.
        """
        tags = list(tags)
        started = time.monotonic()
        log = EngineLog(on_line)
        deadline = started + timeout if timeout else None
        with Watch(deadline, interrupt) as watch:
            try:
                mode = self._network_mode(network)
                source = self._pull_first(cache_from, login, watch, log)
                image_id = self._build(
                    context_tar,
                    dockerfile,
                    f"{repository}:{tags[0]}",
                    labels,
                    {"buildargs": dict(build_args or {}), "target": target, "network_mode": mode},
                    [source] if source else [],
                    watch,
                    log,
                )
                order = [*tags[1:], tags[0]]
                by_engine = order if retag is None else order[:1]
                for tag in by_engine:
                    if tag != tags[0]:
                        self._client.api.tag(image_id, repository, tag)
                digest = ""
                for tag in by_engine:
                    digest = self._push(repository, tag, login, watch, log)
                if retag is not None:
                    for tag in order[1:]:
                        watch.check()
                        retag(digest, tag)
                        log.line(f"tagged {tag} in the registry: {digest}")
            except ShiplineError:
                watch.raise_if_stopped(timeout)
                raise
            except docker.errors.APIError as exc:
                watch.raise_if_stopped(timeout)
                raise _api_error(exc) from None
            except requests.exceptions.ConnectionError as exc:
                watch.raise_if_stopped(timeout)
                raise TransientError(f"docker engine unreachable: {_short(exc)}") from None
            except docker.errors.DockerException as exc:  # raised before any request: bad input
                raise PermanentError(f"docker refused the request: {_short(exc)}") from None
            except STREAM_ERRORS as exc:
                watch.raise_if_stopped(timeout)
                raise TransientError(f"docker engine connection lost: {_short(exc)}") from None
        return BuildResult(
            digest, round(time.monotonic() - started, 3), log.tail(), log.cached_steps, source
        )

    def _pull_first(
        self, references: Sequence[str], login: RegistryLogin | None, watch: Watch, log: EngineLog
    ) -> str | None:
        """The first of `references` the engine has or can pull; failures only mean no cache.

        An image the engine already holds is used as it is: a stale `latest` costs cache hits
        at worst, never correctness, and saves a registry round trip per build.
        """
        for reference in references:
            repository, _, tag = reference.rpartition(":")
            watch.check()
            if self._has_image(reference):
                log.line(f"cache source {reference} (already in the engine)")
                return reference
            try:
                forget_response()
                stream = self._client.api.pull(
                    repository, tag=tag, stream=True, decode=True, auth_config=_auth(login)
                )
                for chunk in watch.follow(stream):
                    if "error" in chunk:
                        raise TransientError(str(chunk["error"]).strip())
            except (ShiplineError, docker.errors.DockerException, *STREAM_ERRORS) as exc:
                watch.check()
                log.line(f"cache source {reference} not used: {_short(exc)}")
                continue
            log.line(f"cache source {reference} pulled")
            return reference
        return None

    def _has_image(self, reference: str) -> bool:
        try:
            self._client.api.inspect_image(reference)
        except docker.errors.NotFound:
            return False
        return True

    def _build(
        self,
        context_tar: ContextTar,
        dockerfile: str,
        reference: str,
        labels: Mapping[str, str],
        options: dict[str, Any],
        cache_from: list[str],
        watch: Watch,
        log: EngineLog,
    ) -> str:
        watch.check()
        forget_response()
        cancel: Callable[[], None] | None = None
        if self._buildkit:
            stream, cancel = self._start_buildkit(
                context_tar, dockerfile, reference, labels, options, cache_from
            )
        else:
            stream = self._client.api.build(
                fileobj=io.BytesIO(context_tar) if isinstance(context_tar, bytes) else context_tar,
                custom_context=True,
                dockerfile=dockerfile,
                tag=reference,
                labels=dict(labels),
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                cache_from=cache_from or None,
                **options,
            )
        image_id = ""
        progress = Progress()
        for chunk in watch.follow(stream, cancel):
            kind, aux = chunk.get("id"), chunk.get("aux")
            if kind == "moby.buildkit.trace" and isinstance(aux, str):
                for line in progress.feed(aux):
                    log.line(line)
            elif isinstance(aux, dict) and "ID" in aux:
                image_id = aux["ID"]
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    log.line(line)
            if "error" in chunk:
                tail = "\n".join(log.tail())
                raise PermanentError(f"docker build failed: {chunk['error'].strip()}\n{tail}")
        watch.check()
        log.cached_steps += progress.cached_steps
        if not image_id:
            raise PermanentError("docker build finished without an image id")
        return image_id

    def _start_buildkit(
        self,
        context_tar: ContextTar,
        dockerfile: str,
        reference: str,
        labels: Mapping[str, str],
        options: dict[str, Any],
        cache_from: list[str],
    ) -> tuple[Iterator[dict[str, Any]], Callable[[], None]]:
        """POST /build?version=2 (the docker SDK only speaks the classic builder's dialect);
        returns the progress stream and what cancels the build.

        Unlike the classic builder, BuildKit goes on when the client hangs up: a stopped
        build is cancelled by its id. The pushed image carries BuildKit's inline cache
        metadata, so another engine can use it as a cache source.
        """
        if not docker.utils.match_tag(reference):
            raise docker.errors.DockerException(
                f"invalid tag '{reference}': invalid reference format"
            )
        api = self._client.api
        build_args = {"BUILDKIT_INLINE_CACHE": "1", **options["buildargs"]}
        build_id = uuid.uuid4().hex
        params: dict[str, Any] = {
            "version": "2",
            "buildid": build_id,
            "t": reference,
            "dockerfile": dockerfile,
            "labels": json.dumps(dict(labels)),
            "buildargs": json.dumps(build_args),
        }
        if options["target"]:
            params["target"] = options["target"]
        if cache_from:
            params["cachefrom"] = json.dumps(cache_from)
        params["networkmode"] = options["network_mode"]
        headers = {"Content-Type": "application/x-tar"}
        api._set_auth_headers(headers)  # noqa: SLF001 - what api.build does for base image pulls
        response = api._post(  # noqa: SLF001
            api._url("/build"), params=params, data=context_tar, headers=headers, stream=True
        )
        api._raise_for_status(response)  # noqa: SLF001

        def cancel() -> None:
            api._post(api._url("/build/cancel"), params={"id": build_id}).close()  # noqa: SLF001

        return api._stream_helper(response, decode=True), cancel  # noqa: SLF001

    def _push(
        self, repository: str, tag: str, login: RegistryLogin | None, watch: Watch, log: EngineLog
    ) -> str:
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            watch.confirm()
            try:
                return self._push_once(repository, tag, login, watch, log)
            except TransientError as exc:
                watch.check()
                if attempt == PUSH_ATTEMPTS:
                    raise
                delay = 0.5 * 2 ** (attempt - 1)
                log.line(f"push of {tag} failed ({exc}); retrying in {delay:.1f}s")
                watch.sleep(delay)
        raise AssertionError("unreachable")

    def _push_once(
        self, repository: str, tag: str, login: RegistryLogin | None, watch: Watch, log: EngineLog
    ) -> str:
        digest = ""
        try:
            forget_response()
            stream = self._client.api.push(
                repository, tag=tag, stream=True, decode=True, auth_config=_auth(login)
            )
            for chunk in watch.follow(stream):
                digest = _digest_of(chunk) or digest
                if "error" in chunk:
                    raise _push_error(repository, tag, chunk["error"])
                if "status" in chunk and not chunk.get("progressDetail"):
                    log.line(f"push {tag}: {chunk.get('id', '')} {chunk['status']}".strip())
        except docker.errors.APIError as exc:
            watch.check()
            raise _api_error(exc) from None
        except STREAM_ERRORS as exc:
            watch.check()
            raise TransientError(f"push of {repository}:{tag} interrupted: {_short(exc)}") from None
        if not digest:
            raise TransientError(f"push of {repository}:{tag} reported no digest")
        return digest


def _auth(login: RegistryLogin | None) -> dict[str, str] | None:
    return {"username": login.username, "password": login.password} if login else None


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
    "failed to reach build target",
)


def _api_error(exc: docker.errors.APIError) -> Exception:
    """Bad input (a missing or unparsable Dockerfile, a 4xx) is permanent; the rest may pass."""
    message = _short(exc)
    explanation = str(getattr(exc, "explanation", "") or "").lower()
    if exc.is_client_error() or any(m in explanation for m in PERMANENT_BUILD_ERRORS):
        return PermanentError(f"docker build refused: {exc.explanation or message}")
    return TransientError(f"docker engine error: {message}")


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()
    return text[0][:500] if text else type(exc).__name__
