"""Files of a checkout read and written without following links, on a real directory tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.safe_files import UnsafePath, read_bytes, write_bytes

WHERE = "the test checkout"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "k8s").mkdir(parents=True)
    (root / "k8s" / "cart.yaml").write_text("image: a\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "profile"
    path.parent.mkdir()
    path.write_text("host\n")
    return path


def test_a_regular_file_is_read_and_replaced(checkout: Path) -> None:
    assert read_bytes(checkout, "k8s/cart.yaml", WHERE) == b"image: a\n"

    write_bytes(checkout, "k8s/cart.yaml", b"image: b\r\n", WHERE)

    assert (checkout / "k8s" / "cart.yaml").read_bytes() == b"image: b\r\n"


def test_a_missing_file_or_directory_reads_as_none(checkout: Path) -> None:
    assert read_bytes(checkout, "k8s/none.yaml", WHERE) is None
    assert read_bytes(checkout, "docs/CHANGELOG.md", WHERE) is None


def test_writing_creates_the_missing_directories(checkout: Path) -> None:
    write_bytes(checkout, "docs/releases/CHANGELOG.md", b"# Changelog\n", WHERE)

    assert (checkout / "docs" / "releases" / "CHANGELOG.md").read_text() == "# Changelog\n"


def test_a_symlinked_file_is_neither_read_nor_written(checkout: Path, outside: Path) -> None:
    (checkout / "CHANGELOG.md").symlink_to(outside)

    with pytest.raises(UnsafePath, match="CHANGELOG.md is a symbolic link"):
        read_bytes(checkout, "CHANGELOG.md", WHERE)
    with pytest.raises(UnsafePath, match="CHANGELOG.md is a symbolic link"):
        write_bytes(checkout, "CHANGELOG.md", b"notes", WHERE)
    assert outside.read_text() == "host\n"


def test_a_dangling_symlink_is_not_created_through(checkout: Path, tmp_path: Path) -> None:
    target = tmp_path / "created-outside"
    (checkout / "new.yaml").symlink_to(target)

    with pytest.raises(UnsafePath, match="symbolic link"):
        write_bytes(checkout, "new.yaml", b"x", WHERE)
    assert not target.exists()


def test_a_file_under_a_symlinked_directory_is_refused_at_any_depth(
    checkout: Path, outside: Path
) -> None:
    (checkout / "deploy").mkdir()
    (checkout / "deploy" / "envs").symlink_to(outside.parent)

    with pytest.raises(UnsafePath, match="deploy/envs is a symbolic link"):
        write_bytes(checkout, "deploy/envs/profile", b"x", WHERE)
    with pytest.raises(UnsafePath, match="deploy/envs is a symbolic link"):
        read_bytes(checkout, "deploy/envs/profile", WHERE)
    assert outside.read_text() == "host\n"


def test_a_symlink_to_a_file_inside_the_checkout_is_refused_too(checkout: Path) -> None:
    (checkout / "k8s" / "search.yaml").symlink_to("cart.yaml")

    with pytest.raises(UnsafePath, match="symbolic link"):
        write_bytes(checkout, "k8s/search.yaml", b"x", WHERE)
    assert (checkout / "k8s" / "cart.yaml").read_text() == "image: a\n"


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside/profile", "k8s/../../x", "a\x00b"])
def test_paths_that_leave_the_checkout_are_refused(checkout: Path, path: str) -> None:
    with pytest.raises(UnsafePath, match="not a relative path inside the repository"):
        write_bytes(checkout, path, b"x", WHERE)


def test_a_directory_or_a_fifo_is_not_a_file_to_read_or_write(checkout: Path) -> None:
    os.mkfifo(checkout / "pipe")

    with pytest.raises(UnsafePath, match="not a regular file"):
        read_bytes(checkout, "pipe", WHERE)  # would block forever if opened for reading
    with pytest.raises(UnsafePath, match="not a regular file"):
        write_bytes(checkout, "k8s", b"x", WHERE)


def test_a_file_where_a_directory_should_be_is_refused(checkout: Path) -> None:
    with pytest.raises(UnsafePath, match="k8s/cart.yaml is not a directory"):
        write_bytes(checkout, "k8s/cart.yaml/x", b"x", WHERE)
