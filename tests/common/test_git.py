"""Mirror, Checkout and redact against real bare repositories (``file://``) made with GitPython."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path

import git
import pytest

from services.common.errors import PermanentError, ShiplineError, TransientError
from services.common.events import ZERO_SHA
from services.common.git import Mirror, redact
from services.common.git_checkout import Checkout, PushRejected

pytestmark = pytest.mark.integration  # git repositories built with the git binary

BOT_NAME = "Shipline Bot"
BOT_EMAIL = "shipline-bot@localhost"


class Clone:
    """A developer's clone of the remote: write files, commit, push."""

    def __init__(self, url: str, path: Path, email: str = "dev@example.com") -> None:
        self.repo = git.Repo.clone_from(url, path, branch="main")
        self.path = path
        self.actor = git.Actor("Dev", email)

    def commit(self, message: str, files: dict[str, str | None], push: bool = True) -> str:
        for name, text in files.items():
            target = self.path / name
            if text is None:
                self.repo.index.remove([name], working_tree=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.repo.index.add([name])
        sha = self.repo.index.commit(message, author=self.actor, committer=self.actor).hexsha
        if push:
            self.repo.git.push("origin", "HEAD:refs/heads/main")
        return sha


@pytest.fixture
def remote_url(tmp_path: Path) -> str:
    git.Repo.init(tmp_path / "remote.git", bare=True, initial_branch="main")
    return f"file://{tmp_path / 'remote.git'}"


def push_initial(url: str, seed: Path, files: dict[str, str], executable: str = "") -> None:
    """Commit ``files`` in a new repository at ``seed`` and push them as the remote's main."""
    repo = git.Repo.init(seed, initial_branch="main")
    for name, text in files.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(text)
    if executable:
        (seed / executable).chmod(0o755)
    repo.index.add(list(files))
    actor = git.Actor("Dev", "dev@example.com")
    repo.index.commit("initial", author=actor, committer=actor)
    repo.create_remote("origin", url).push("HEAD:refs/heads/main")


@pytest.fixture
def dev(remote_url: str, tmp_path: Path) -> Clone:
    files = {
        "README.md": "monorepo\n",
        "svc/Dockerfile": "FROM scratch\nCOPY app.txt /\n",
        "svc/app.txt": "v1\n",
        "svc/run.sh": "#!/bin/sh\necho hi\n",
        "k8s/deploy.yaml": "image: reg/svc:initial\n",
    }
    push_initial(remote_url, tmp_path / "seed", files, executable="svc/run.sh")
    return Clone(remote_url, tmp_path / "dev")


@pytest.fixture
def mirror(remote_url: str, tmp_path: Path, dev: Clone) -> Mirror:
    return Mirror(remote_url, tmp_path / "mirrors")


def remote_log(url: str) -> list[git.Commit]:
    return list(git.Repo(url.removeprefix("file://")).iter_commits("main"))


# --- redact ---------------------------------------------------------------------------


def test_redact_hides_user_and_token_of_a_url() -> None:
    redacted = redact("https://user:tok@host/x")

    assert "tok" not in redacted
    assert "user" not in redacted
    assert redacted == "https://***@host/x"


def test_redact_hides_every_url_in_a_message_and_keeps_the_rest() -> None:
    text = "fetch https://a:s3cr3t@git.example/x.git failed; also http://token123@h/y and /no/url"

    redacted = redact(text)

    assert "s3cr3t" not in redacted
    assert "token123" not in redacted
    assert redacted.endswith("failed; also http://***@h/y and /no/url")


def test_redact_leaves_urls_without_credentials_alone() -> None:
    assert redact("file:///srv/git/x.git and https://host/x") == (
        "file:///srv/git/x.git and https://host/x"
    )


# --- Mirror ---------------------------------------------------------------------------


def test_fetched_mirror_knows_pushed_commits_and_not_others(mirror: Mirror, dev: Clone) -> None:
    head = dev.repo.head.commit.hexsha
    mirror.fetch()

    assert mirror.has_commit(head)
    assert not mirror.has_commit("f" * 40)
    assert not mirror.has_commit(ZERO_SHA)


def test_a_mirror_that_was_never_fetched_has_no_commits(remote_url: str, tmp_path: Path) -> None:
    mirror = Mirror(remote_url, tmp_path / "fresh-mirrors")

    assert mirror.has_commit("a" * 40) is False


def test_fetch_again_brings_in_new_commits(mirror: Mirror, dev: Clone) -> None:
    mirror.fetch()
    new = dev.commit("change app", {"svc/app.txt": "v2\n"})
    assert not mirror.has_commit(new)

    mirror.fetch()

    assert mirror.has_commit(new)


def test_changed_paths_of_a_normal_push_lists_added_modified_and_deleted_files(
    mirror: Mirror, dev: Clone
) -> None:
    before = dev.repo.head.commit.hexsha
    dev.commit("edit", {"svc/app.txt": "v2\n", "libs/common/x.sh": "x\n"}, push=False)
    after = dev.commit("drop", {"README.md": None})
    mirror.fetch()

    assert sorted(mirror.changed_paths(before, after)) == [
        "README.md",
        "libs/common/x.sh",
        "svc/app.txt",
    ]


def test_changed_paths_reports_a_rename_as_both_paths(mirror: Mirror, dev: Clone) -> None:
    before = dev.repo.head.commit.hexsha
    dev.repo.git.mv("svc/app.txt", "svc/page.txt")
    after = dev.commit("rename", {})
    mirror.fetch()

    assert sorted(mirror.changed_paths(before, after)) == ["svc/app.txt", "svc/page.txt"]


def test_changed_paths_of_a_new_branch_lists_every_file(mirror: Mirror, dev: Clone) -> None:
    after = dev.repo.head.commit.hexsha
    mirror.fetch()

    assert sorted(mirror.changed_paths(ZERO_SHA, after)) == [
        "README.md",
        "k8s/deploy.yaml",
        "svc/Dockerfile",
        "svc/app.txt",
        "svc/run.sh",
    ]


def test_changed_paths_after_a_force_push_lists_every_file(mirror: Mirror, dev: Clone) -> None:
    after = dev.commit("edit", {"svc/app.txt": "v2\n"})
    mirror.fetch()

    paths = mirror.changed_paths("e" * 40, after)  # `before` no longer exists anywhere

    assert "README.md" in paths
    assert "svc/app.txt" in paths


def test_changed_paths_to_an_unknown_commit_is_a_permanent_error(
    mirror: Mirror, dev: Clone
) -> None:
    mirror.fetch()

    with pytest.raises(PermanentError):
        mirror.changed_paths(dev.repo.head.commit.hexsha, "e" * 40)


def test_commits_lists_the_pushed_commits_newest_first(mirror: Mirror, dev: Clone) -> None:
    before = dev.repo.head.commit.hexsha
    first = dev.commit("feat: one\n\nbody line", {"svc/app.txt": "v2\n"}, push=False)
    second = dev.commit("fix: two", {"svc/app.txt": "v3\n"})
    mirror.fetch()

    commits = mirror.commits(before, second)

    assert [c.sha for c in commits] == [second, first]
    assert commits[1].message == "feat: one\n\nbody line"
    assert commits[0].author_email == "dev@example.com"
    assert len(mirror.commits(ZERO_SHA, second)) == 3


def test_read_file_returns_the_bytes_at_a_commit(mirror: Mirror, dev: Clone) -> None:
    old = dev.repo.head.commit.hexsha
    new = dev.commit("edit", {"svc/app.txt": "v2\n"})
    mirror.fetch()

    assert mirror.read_file(old, "svc/app.txt") == b"v1\n"
    assert mirror.read_file(new, "svc/app.txt") == b"v2\n"


def test_read_file_of_a_missing_path_returns_none(mirror: Mirror, dev: Clone) -> None:
    mirror.fetch()
    head = dev.repo.head.commit.hexsha

    assert mirror.read_file(head, "shipline.yaml") is None
    assert mirror.read_file(head, "svc/app.txt/deeper") is None


def test_read_file_of_a_directory_returns_none(mirror: Mirror, dev: Clone) -> None:
    mirror.fetch()

    assert mirror.read_file(dev.repo.head.commit.hexsha, "svc") is None


def test_read_file_at_a_missing_commit_is_a_permanent_error(mirror: Mirror) -> None:
    mirror.fetch()

    with pytest.raises(PermanentError, match="not found"):
        mirror.read_file("f" * 40, "svc/app.txt")


def test_read_file_runs_two_git_commands_and_still_refuses_what_is_not_a_commit(
    mirror: Mirror, dev: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror.fetch()
    head = dev.repo.head.commit
    commands: list[str] = []
    run = Mirror._git

    def counted(self: Mirror, *args: str, **kwargs: object) -> object:
        commands.append(next(a for a in args if not a.startswith("-")))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Mirror, "_git", counted)

    assert mirror.read_file(head.hexsha, "svc/app.txt") == b"v1\n"
    assert commands == ["ls-tree", "cat-file"]
    with pytest.raises(PermanentError, match="not found"):
        mirror.read_file(head.tree.hexsha, "svc/app.txt")
    with pytest.raises(PermanentError, match="not found"):
        mirror.read_files("e" * 40, ["svc/app.txt", "README.md"])


def test_archive_of_a_subdirectory_is_a_tar_rooted_at_it(mirror: Mirror, dev: Clone) -> None:
    mirror.fetch()

    with (
        mirror.archive(dev.repo.head.commit.hexsha, "svc") as stream,
        tarfile.open(fileobj=io.BytesIO(stream.read())) as tar,
    ):
        files = {m.name: m for m in tar.getmembers() if m.isfile()}
        assert sorted(files) == ["Dockerfile", "app.txt", "run.sh"]
        assert tar.extractfile(files["app.txt"]).read() == b"v1\n"  # type: ignore[union-attr]
        assert files["run.sh"].mode & 0o111


def test_archive_of_the_root_holds_the_whole_tree(mirror: Mirror, dev: Clone) -> None:
    mirror.fetch()

    with (
        mirror.archive(dev.repo.head.commit.hexsha, "") as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        names = {m.name for m in tar.getmembers() if m.isfile()}
    assert {"README.md", "svc/Dockerfile", "k8s/deploy.yaml"} <= names


def test_archive_of_a_missing_directory_is_a_permanent_error(mirror: Mirror, dev: Clone) -> None:
    mirror.fetch()

    with pytest.raises(PermanentError), mirror.archive(dev.repo.head.commit.hexsha, "nope"):
        pass


def test_fetch_of_a_missing_repository_is_a_permanent_error(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'does-not-exist.git'}"

    with pytest.raises(PermanentError, match="does not appear to be a git repository"):
        Mirror(url, tmp_path / "mirrors").fetch()


def test_fetch_of_an_unreachable_host_is_transient_and_hides_the_credentials(
    tmp_path: Path,
) -> None:
    url = "https://deploy:ghp_t0ps3cret@127.0.0.1:1/acme/microbank.git"

    with pytest.raises(TransientError) as caught:
        Mirror(url, tmp_path / "mirrors").fetch()

    assert "ghp_t0ps3cret" not in str(caught.value)
    assert "deploy:" not in str(caught.value)


def test_sync_of_a_missing_repository_fails_without_credentials(tmp_path: Path) -> None:
    for url in (
        f"file://{tmp_path / 'missing.git'}",
        "https://bot:glpat-s3cret@127.0.0.1:1/acme/gitops.git",
    ):
        with pytest.raises(ShiplineError) as caught:
            Checkout(url, "main", tmp_path / "gitops").sync()
        assert isinstance(caught.value, PermanentError | TransientError)
        assert "s3cret" not in str(caught.value)


# --- Checkout -------------------------------------------------------------------------


def test_sync_returns_the_remote_head_and_reads_files(
    remote_url: str, dev: Clone, tmp_path: Path
) -> None:
    checkout = Checkout(remote_url, "main", tmp_path / "gitops")

    assert checkout.sync() == dev.repo.head.commit.hexsha
    assert checkout.read("k8s/deploy.yaml") == "image: reg/svc:initial\n"
    assert checkout.read("k8s/missing.yaml") is None


def test_sync_of_a_missing_branch_is_a_permanent_error(
    remote_url: str, dev: Clone, tmp_path: Path
) -> None:
    with pytest.raises(PermanentError):
        Checkout(remote_url, "gitops", tmp_path / "gitops").sync()


def test_sync_discards_local_edits_and_follows_the_remote(
    remote_url: str, dev: Clone, tmp_path: Path
) -> None:
    checkout = Checkout(remote_url, "main", tmp_path / "gitops")
    checkout.sync()
    checkout.write("k8s/deploy.yaml", "half-done edit\n")
    (checkout.path / "stray.txt").write_text("leftover\n")
    new = dev.commit("bump", {"k8s/deploy.yaml": "image: reg/svc:v2\n"})

    assert checkout.sync() == new
    assert checkout.read("k8s/deploy.yaml") == "image: reg/svc:v2\n"
    assert not (checkout.path / "stray.txt").exists()


def test_sync_drops_a_local_commit_a_staged_edit_and_a_deleted_file(
    remote_url: str, dev: Clone, tmp_path: Path
) -> None:
    checkout = Checkout(remote_url, "main", tmp_path / "gitops")
    head = checkout.sync()
    checkout.write("k8s/deploy.yaml", "committed here only\n")
    checkout._git("commit", "-qam", "local only")
    checkout.write("k8s/deploy.yaml", "staged edit\n")
    checkout._git("add", "k8s/deploy.yaml")
    (checkout.path / "svc/app.txt").unlink()

    assert checkout.sync() == head
    assert checkout.read("k8s/deploy.yaml") == "image: reg/svc:initial\n"
    assert checkout.read("svc/app.txt") == "v1\n"
    assert checkout._git("status", "--porcelain") == ""
    assert checkout._git("rev-parse", "HEAD") == head


def test_commit_and_push_lands_one_bot_commit_on_the_remote_branch(
    remote_url: str, dev: Clone, tmp_path: Path
) -> None:
    checkout = Checkout(remote_url, "main", tmp_path / "gitops")
    parent = checkout.sync()
    checkout.write("k8s/deploy.yaml", "image: reg/svc:sha-1234567\n")

    sha = checkout.commit_and_push(
        ["k8s/deploy.yaml"], "chore(svc): deploy reg/svc:sha-1234567", BOT_NAME, BOT_EMAIL
    )

    head = remote_log(remote_url)[0]
    assert head.hexsha == sha
    assert [p.hexsha for p in head.parents] == [parent]
    assert (head.author.name, head.author.email) == (BOT_NAME, BOT_EMAIL)
    assert (head.committer.name, head.committer.email) == (BOT_NAME, BOT_EMAIL)
    assert head.message.rstrip("\n") == "chore(svc): deploy reg/svc:sha-1234567"
    assert list(head.stats.files) == ["k8s/deploy.yaml"]


def test_push_is_rejected_when_the_remote_moved_and_succeeds_after_sync_and_reapply(
    remote_url: str, dev: Clone, tmp_path: Path
) -> None:
    checkout = Checkout(remote_url, "main", tmp_path / "gitops")
    checkout.sync()
    checkout.write("k8s/deploy.yaml", "image: reg/svc:sha-aaaaaaa\n")
    other = dev.commit("someone else", {"README.md": "changed meanwhile\n"})

    with pytest.raises(PushRejected):
        checkout.commit_and_push(["k8s/deploy.yaml"], "deploy a", BOT_NAME, BOT_EMAIL)
    assert remote_log(remote_url)[0].hexsha == other

    assert checkout.sync() == other
    assert checkout.read("k8s/deploy.yaml") == "image: reg/svc:initial\n"
    checkout.write("k8s/deploy.yaml", "image: reg/svc:sha-aaaaaaa\n")
    sha = checkout.commit_and_push(["k8s/deploy.yaml"], "deploy a", BOT_NAME, BOT_EMAIL)

    log = remote_log(remote_url)
    assert log[0].hexsha == sha
    assert log[1].hexsha == other
    assert all(len(c.parents) <= 1 for c in log)
    remote_tree = log[0].tree
    assert remote_tree["README.md"].data_stream.read() == b"changed meanwhile\n"
    assert remote_tree["k8s/deploy.yaml"].data_stream.read() == b"image: reg/svc:sha-aaaaaaa\n"


def test_push_rejected_is_a_transient_error() -> None:
    assert issubclass(PushRejected, TransientError)


def commit_all_at_once(changes: list[tuple[Checkout, str]]) -> list[BaseException]:
    """Write each checkout's deploy.yaml, then commit and push them all from parallel threads."""
    start = threading.Barrier(len(changes))
    errors: list[BaseException] = []

    def commit(checkout: Checkout, text: str) -> None:
        checkout.write("deploy.yaml", text)
        start.wait()
        try:
            checkout.commit_and_push(["deploy.yaml"], "deploy", BOT_NAME, BOT_EMAIL)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=change) for change in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_checkouts_committing_from_concurrent_threads_each_commit_their_own_files(
    tmp_path: Path,
) -> None:
    # Several gitops repositories (so no per-repository lock orders them) committed from
    # threads of one worker process: every commit must hold its own checkout's file.
    count, rounds = 6, 5
    repos: list[tuple[Path, Checkout]] = []
    for index in range(count):
        bare = tmp_path / f"gitops-{index}.git"
        git.Repo.init(bare, bare=True, initial_branch="main")
        files = {"deploy.yaml": "image: reg/svc:initial\n"}
        push_initial(f"file://{bare}", tmp_path / f"seed-{index}", files)
        checkout = Checkout(f"file://{bare}", "main", tmp_path / f"work-{index}")
        checkout.sync()
        repos.append((bare, checkout))

    wrong: list[str] = []
    for round_ in range(rounds):
        expected = [f"image: reg/svc-{i}:r{round_}{'-' * i}\n" for i in range(count)]

        errors = commit_all_at_once([(repos[i][1], expected[i]) for i in range(count)])

        assert errors == []
        for index, (bare, _checkout) in enumerate(repos):
            with git.Repo(bare) as repo:
                got = (repo.commit("main").tree / "deploy.yaml").data_stream.read().decode()
            if got != expected[index]:
                wrong.append(f"round {round_}, repo {index}: committed {got!r}")

    assert wrong == []
