"""Where each scanned image's reports are kept: the scanner writes them, the API serves them.

Layout: ``<workdir>/reports/<run_id>/<service>.trivy.json`` (the full Trivy JSON) and
``<service>.sarif.json`` (SARIF limited to the policy's severities), and
``<service>.cdx.json`` (the image's CycloneDX SBOM, when one was made). Both processes need
the same workdir (docker-compose shares the volume; on Kubernetes a shared volume).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ReportFormat = Literal["json", "sarif", "cyclonedx"]
_SUFFIXES: dict[str, str] = {"json": "trivy.json", "sarif": "sarif.json", "cyclonedx": "cdx.json"}
_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SERVICE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class ReportFiles:
    json: Path
    sarif: Path
    cyclonedx: Path


class ScanReports:
    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self, run_id: str, service: str) -> ReportFiles:
        if not _RUN_ID.match(run_id) or run_id in {".", ".."} or not _SERVICE.match(service):
            raise ValueError(f"not a run id and service name: {run_id!r}, {service!r}")
        folder = self.root / run_id
        return ReportFiles(
            json=folder / f"{service}.{_SUFFIXES['json']}",
            sarif=folder / f"{service}.{_SUFFIXES['sarif']}",
            cyclonedx=folder / f"{service}.{_SUFFIXES['cyclonedx']}",
        )

    def save(
        self, run_id: str, service: str, report: dict[str, Any], sarif: dict[str, Any]
    ) -> ReportFiles:
        """Write both reports; each file appears complete or not at all."""
        files = self.files(run_id, service)
        files.json.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(files.json, json.dumps(report).encode())
        _write_atomically(files.sarif, json.dumps(sarif).encode())
        return files

    def save_sbom(self, run_id: str, service: str, sbom: bytes) -> Path:
        """Keep the SBOM as its bytes: the same bytes as the blob attached in the registry."""
        path = self.files(run_id, service).cyclonedx
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, sbom)
        return path

    def find(self, run_id: str, service: str, report_format: ReportFormat) -> Path | None:
        path: Path = getattr(self.files(run_id, service), report_format)
        return path if path.is_file() else None


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # the API may read it as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
