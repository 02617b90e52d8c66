"""Make a tiny local base image from Debian's static busybox (nothing can be pulled here)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

DEFAULT_REFERENCE = "shipline/busybox:1"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ETC_USERS = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


class BaseImageError(RuntimeError):
    """busybox-static is missing or the import failed."""


def find_static_busybox() -> Path:
    for candidate in (Path("/bin/busybox"), Path("/usr/bin/busybox")):
        if candidate.is_file():
            return candidate
    found = shutil.which("busybox")
    if found:
        return Path(found)
    raise BaseImageError(
        "busybox not found: install it with `apt-get install busybox-static` "
        "(or run `bash deploy/dev/bootstrap.sh`)"
    )


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
    tar.addfile(info)


def build_rootfs(busybox: Path) -> bytes:
    """A rootfs tarball: /bin/busybox, one /bin symlink per applet, /etc/passwd, /tmp."""
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    if "sh" not in applets:
        raise BaseImageError(f"{busybox} has no 'sh' applet; is it busybox-static?")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("bin", "etc", "root", "usr", "usr/bin", "dev", "proc", "sys", "var"):
            _add_dir(tar, name, 0o700 if name == "root" else 0o755)
        _add_dir(tar, "tmp", 0o1777)
        _add_dir(tar, "var/tmp", 0o1777)
        _add_file(tar, "bin/busybox", busybox.read_bytes(), 0o755)
        for applet in sorted(set(applets) - {"busybox"}):
            _add_symlink(tar, f"bin/{applet}", "busybox")
        _add_symlink(tar, "usr/bin/env", "/bin/busybox")  # for `#!/usr/bin/env sh`
        _add_file(tar, "etc/passwd", _ETC_USERS.encode())
        _add_file(tar, "etc/group", _GROUP.encode())
    return buffer.getvalue()


def ensure_base_image(client: docker.DockerClient, reference: str = DEFAULT_REFERENCE) -> str:
    """Make sure ``reference`` exists in the engine (``docker import`` of busybox); return it."""
    try:
        client.images.get(reference)
        return reference
    except ImageNotFound:
        pass
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        repository, tag = reference, "latest"
    rootfs = build_rootfs(find_static_busybox())
    client.api.import_image_from_data(
        rootfs,
        repository=repository,
        tag=tag,
        changes=[f"ENV PATH={PATH_ENV}", 'CMD ["/bin/sh"]'],
    )
    try:
        client.images.get(reference)
    except ImageNotFound as exc:
        raise BaseImageError(f"docker import did not produce {reference}") from exc
    return reference
