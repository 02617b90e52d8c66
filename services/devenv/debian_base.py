"""Make a local Debian bookworm base image with Python 3.11 (nothing can be pulled here).

``debootstrap --variant=minbase`` builds the root file system from Debian's package registry
(about a minute, with python3, python3-venv and ca-certificates), which ``docker import``
turns into an image that deploy/Dockerfile takes as its ``BASE_IMAGE``. The root file system
is kept as a tarball in the devenv state dir, so a second run (or a reset engine) imports it
in seconds instead of bootstrapping again.

The image trusts what the host trusts: the host's extra CA certificates
(/usr/local/share/ca-certificates) are added, so pip and apt inside a build reach the package
registries through the same TLS-inspecting egress the host goes through. This is a test and
development base only; production builds keep the official python image.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

DEFAULT_REFERENCE = "shipline/debian-python:bookworm"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
# Emptied after the bootstrap: downloaded .debs and package lists are not part of a base.
_TRIMMED = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man")


class DebianBaseError(RuntimeError):
    """debootstrap is missing, failed, or the import produced no image."""


def cache_tarball(state_dir: Path) -> Path:
    """Where the bootstrapped root file system is kept between runs."""
    return Path(state_dir) / "debian-base" / f"{SUITE}-python.tar"


def _run(argv: list[str], what: str, timeout: float) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise DebianBaseError(f"{what} exited {result.returncode}:\n{tail}")


def bootstrap_rootfs(target: Path, mirror: str = MIRROR) -> None:
    """A bookworm minbase with PACKAGES in ``target`` (run as root: debootstrap chroots)."""
    binary = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(binary).exists():
        raise DebianBaseError(
            "debootstrap not found: install it with `apt-get install debootstrap` "
            "(or run `bash deploy/dev/bootstrap.sh`)"
        )
    _run(
        [
            binary,
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(target),
            mirror,
        ],
        "debootstrap",
        timeout=900,
    )
    extra = sorted(HOST_EXTRA_CAS.glob("*.crt")) if HOST_EXTRA_CAS.is_dir() else []
    if extra:
        destination = target / "usr/local/share/ca-certificates"
        destination.mkdir(parents=True, exist_ok=True)
        for certificate in extra:
            shutil.copyfile(certificate, destination / certificate.name)
        _run(["chroot", str(target), "update-ca-certificates"], "update-ca-certificates", 120)
    for relative in _TRIMMED:
        directory = target / relative
        if directory.is_dir():
            for child in directory.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()


def build_tarball(destination: Path, mirror: str = MIRROR) -> Path:
    """Bootstrap into a temporary dir and pack it as ``destination`` (written atomically)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix="rootfs-") as work:
        rootfs = Path(work) / "rootfs"
        bootstrap_rootfs(rootfs, mirror)
        partial = destination.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], "tar", 300)
        partial.replace(destination)
    return destination


def ensure_debian_base(
    client: docker.DockerClient, state_dir: Path, reference: str = DEFAULT_REFERENCE
) -> str:
    """Make sure ``reference`` exists in the engine; return it.

    Present in the engine: nothing to do. Else the cached tarball is imported, made first
    by debootstrap when there is none.
    """
    try:
        client.images.get(reference)
        return reference
    except ImageNotFound:
        pass
    tarball = cache_tarball(state_dir)
    if not tarball.is_file():
        build_tarball(tarball)
    repository, _, tag = reference.rpartition(":")
    with tarball.open("rb") as data:
        client.api.import_image_from_data(
            data,
            repository=repository,
            tag=tag,
            changes=[f"ENV PATH={PATH_ENV}", "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]'],
        )
    try:
        client.images.get(reference)
    except ImageNotFound as exc:
        raise DebianBaseError(f"docker import of {tarball} did not produce {reference}") from exc
    return reference
