"""The build context the builder sends: `.dockerignore` applied to a git archive, docker's way,
and the image labels written into the Dockerfile as one instruction."""

from __future__ import annotations

import io
import tarfile

from services.builder.context import build_context, label_instruction, parse_dockerignore


def context(files: dict[str, str], directories: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in directories:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def apply_dockerignore(context_tar: bytes, dockerfile: str = "Dockerfile") -> bytes:
    return build_context(context_tar, dockerfile, {}).tar


def names(context_tar: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(context_tar)) as tar:
        return {member.name for member in tar.getmembers()}


def read(context_tar: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(context_tar)) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read().decode()


APP = {"Dockerfile": "FROM scratch\n", "app.py": "print('hi')\n"}


def test_files_and_directories_the_dockerignore_names_are_left_out() -> None:
    files = {
        **APP,
        ".dockerignore": "*.log\nsecrets\nnode_modules/\n",
        "debug.log": "noise",
        "secrets/key.pem": "-----BEGIN PRIVATE KEY-----",
        "node_modules/a/index.js": "x",
        "src/main.py": "print()",
    }

    kept = names(apply_dockerignore(context(files, ("secrets", "src"))))

    assert kept == {"Dockerfile", "app.py", ".dockerignore", "src", "src/main.py"}


def test_an_exception_keeps_one_file_of_an_excluded_directory() -> None:
    files = {
        **APP,
        ".dockerignore": "docs\n!docs/README.md\n",
        "docs/a.md": "a",
        "docs/README.md": "r",
    }

    kept = names(apply_dockerignore(context(files), "Dockerfile"))

    assert "docs/README.md" in kept
    assert "docs/a.md" not in kept


def test_double_star_patterns_match_at_any_depth() -> None:
    files = {**APP, ".dockerignore": "**/*.pyc\n", "a/b/c/x.pyc": "", "a/b/c/x.py": "", "y.pyc": ""}

    kept = names(apply_dockerignore(context(files), "Dockerfile"))

    assert {"a/b/c/x.py", "app.py"} <= kept
    assert not {name for name in kept if name.endswith(".pyc")}


def test_the_dockerfile_and_the_dockerignore_are_sent_even_when_excluded() -> None:
    files = {"build/Dockerfile": "FROM scratch\n", ".dockerignore": "*\n", "app.py": ""}

    kept = names(apply_dockerignore(context(files), "build/Dockerfile"))

    assert kept == {"build/Dockerfile", ".dockerignore"}


def test_file_contents_survive_the_filtering_unchanged() -> None:
    files = {**APP, ".dockerignore": "*.log\n", "x.log": "", "data/blob.bin": "\x00\x01\x02 bytes"}

    filtered = apply_dockerignore(context(files), "Dockerfile")

    assert read(filtered, "data/blob.bin") == "\x00\x01\x02 bytes"
    assert read(filtered, "app.py") == APP["app.py"]


def test_a_context_without_a_dockerignore_is_passed_on_as_it_is() -> None:
    original = context({**APP, "debug.log": ""})

    assert build_context(original, "Dockerfile", {}).tar is original


def test_a_nested_dockerignore_is_not_the_contexts_and_is_ignored() -> None:
    files = {**APP, "sub/.dockerignore": "*\n", "sub/file.txt": "kept"}

    assert "sub/file.txt" in names(apply_dockerignore(context(files), "Dockerfile"))


def test_comments_blank_lines_and_leading_slashes_read_as_docker_reads_them() -> None:
    text = "\ufeff# build output\n\n  /dist/  \n!/dist/keep.txt\n./tmp/../cache\n"

    assert parse_dockerignore(text) == ["dist", "!dist/keep.txt", "cache"]


LABELS = {
    "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
    "org.opencontainers.image.created": "2024-05-01T12:00:00+00:00",
    "org.opencontainers.image.source": "https://***@github.com/acme/shop.git",
}


def test_labels_become_one_label_instruction_at_the_end_of_the_dockerfile() -> None:
    files = {**APP, "Dockerfile": "FROM scratch\nCOPY app.py /app.py\n# the end"}

    built = build_context(context(files), "Dockerfile", LABELS)

    dockerfile = read(built.tar, "Dockerfile")
    assert dockerfile.startswith(files["Dockerfile"] + "\n")
    assert dockerfile.splitlines()[-1] == label_instruction(LABELS)
    assert built.labels == {}
    assert read(built.tar, "app.py") == APP["app.py"]


def test_labels_stay_with_the_engine_when_a_target_stage_is_built() -> None:
    built = build_context(context(APP), "Dockerfile", LABELS, inline_labels=False)

    assert read(built.tar, "Dockerfile") == APP["Dockerfile"]
    assert built.labels == LABELS


def test_labels_stay_with_the_engine_when_the_dockerfile_ends_in_a_line_continuation() -> None:
    files = {**APP, "Dockerfile": "FROM scratch\nRUN echo a \\\n"}

    built = build_context(context(files), "Dockerfile", LABELS)

    assert read(built.tar, "Dockerfile") == files["Dockerfile"]
    assert built.labels == LABELS


def test_a_label_value_docker_would_expand_or_unquote_is_never_inlined() -> None:
    for value in ('say "hi"', "cost $HOME", "back\\slash", "two\nlines"):
        assert label_instruction({"x": value}) is None
    assert label_instruction({"bad key": "v"}) is None
    assert label_instruction({}) is None


def test_labels_and_dockerignore_apply_together() -> None:
    files = {**APP, ".dockerignore": "*.log\n", "x.log": ""}

    built = build_context(context(files), "Dockerfile", LABELS)

    assert "x.log" not in names(built.tar)
    assert read(built.tar, "Dockerfile").endswith(f"{label_instruction(LABELS)}\n")
