"""Whether a shipline.yaml fits the tree it is committed in: every path it names exists and
is what it must be, each manifest holds the service's image, no `ignore` glob hides a
service. `shipline validate` runs these on the working tree, the detector on the pushed
commit, `shipline doctor` on a repository's default branch (problems_at_commit).

Pure given a Tree (services/common/project_trees.py adapts the disk and a git commit).
Manifests are read with the committer's own readers, so a check passes exactly when the
committer could write the image.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Container, Iterable
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from services.committer.formats import manifest_format, write_image
from services.committer.images import ImageRef
from services.committer.yamlsplice import ManifestError
from services.common.environments import PLACEHOLDER
from services.common.errors import ConfigError, PermanentError
from services.common.git import Mirror
from services.common.project import PROJECT_FILE, Project, ServiceSpec, read_project
from services.common.project_trees import CommitTree, Kind
from services.detector.paths import index_of

DEFAULT_MAX_BYTES = 1_048_576  # a manifest larger than this is not read (limits.project_file_bytes)


class ProjectProblem(BaseModel):
    """One thing wrong with a shipline.yaml: where (the file and the key), what, and the fix."""

    model_config = ConfigDict(frozen=True)

    file: str
    key: str  # e.g. services.user-service.path; '' for the file as a whole
    problem: str
    fix: str = ""

    def line(self) -> str:
        """`shipline.yaml: services.web.path: 'src/wbe' does not exist; did you mean 'src/web'?`"""
        where = f"{self.file}: {self.key}: " if self.key else f"{self.file}: "
        return where + self.problem + (f"; {self.fix}" if self.fix else "")


class Tree(Protocol):
    """What the checks ask of a tree; `kind` is None for a path that is not there."""

    def preload(self, paths: Iterable[str]) -> None: ...

    def kind(self, path: str) -> Kind | None: ...

    def entries(self, directory: str) -> list[str]: ...

    def read_text(self, path: str, max_bytes: int | None = None) -> str | None: ...


def problems_in_text(
    text: str | bytes,
    tree: Tree,
    file: str = PROJECT_FILE,
    repository: str | None = None,
    max_bytes: int | None = None,
) -> list[ProjectProblem]:
    """Everything wrong with a shipline.yaml's text: its schema first (a file that does not
    parse cannot be checked further), then the tree. `repository`: the tree's configured
    name; manifests are looked for unless shipline.yaml sends them to another repository."""
    parsed = read_project(text, max_bytes)
    if not isinstance(parsed, Project):
        return [ProjectProblem(file=file, key=key, problem=message) for key, message in parsed]
    here = manifests_here(parsed, repository)
    return check_project(parsed, tree, file, manifests=here, max_bytes=max_bytes)


def manifests_here(project: Project, repository: str | None) -> bool:
    """Whether the manifests live in the repository shipline.yaml is in."""
    return project.gitops.repository in (None, repository)


def check_project(
    project: Project,
    tree: Tree,
    file: str = PROJECT_FILE,
    services: Iterable[str] | None = None,
    manifests: bool = True,
    max_bytes: int | None = None,
    read: Container[str] | None = None,
) -> list[ProjectProblem]:
    """The problems of `services` (all when None) and of the file's global keys.

    `manifests`: whether the manifests are in this tree (not when shipline.yaml names another
    gitops repository); when False they are not looked for. `read`: the manifests whose
    content is checked (None: all); the others only have to exist.
    """
    names = sorted(project.services if services is None else services)
    check = _Checks(project, tree, file, max_bytes or DEFAULT_MAX_BYTES)
    tree.preload(paths_checked(project, names, manifests))
    for name in names:
        spec = project.services[name]
        check.service(name, spec, manifests)
        for key, path in manifest_keys(project, name) if manifests else ():
            if read is None or path in read:
                check.manifest_content(name, spec, path, key)
    check.global_paths()
    return check.found


def paths_checked(
    project: Project, services: Iterable[str] | None = None, manifests: bool = True
) -> list[str]:
    """Every path check_project asks the tree about: list them ahead (Tree.preload), even
    while the services to check are still being worked out."""
    paths = list(project.global_paths)
    for name in project.services if services is None else services:
        spec = project.services[name]
        paths += [spec.path, _dockerfile(spec), *spec.depends_on]
        paths += [spec.context] if spec.context else []
        paths += project.manifest_paths(name, "branch") if manifests else ()
    return paths


def manifest_keys(project: Project, name: str) -> list[tuple[str, str]]:
    """The service's manifests in this tree and the key naming each: every environment's
    committed where the top-level gitops: says (another branch's or repository's are not
    here), each path once, keyed `services.<name>.manifest` or the environment's override."""
    found: dict[str, str] = {}
    here = project.manifest_paths(name, "branch")
    environments: list[str | None] = [env.name for env in project.environments]
    for environment in environments or [None]:
        path = project.manifest_path(name, environment)
        if path not in here:
            continue
        overridden = environment in project.services[name].environments
        override = f"environments.{environment}.manifest" if overridden else "manifest"
        found.setdefault(path, f"services.{name}.{override}")
    return [(key, path) for path, key in found.items()]


class _Checks:
    def __init__(self, project: Project, tree: Tree, file: str, max_bytes: int) -> None:
        self.project, self.tree, self.file, self.max_bytes = project, tree, file, max_bytes
        self.found: list[ProjectProblem] = []

    def add(self, key: str, problem: str, fix: str = "") -> None:
        self.found.append(ProjectProblem(file=self.file, key=key, problem=problem, fix=fix))

    def service(self, name: str, spec: ServiceSpec, manifests: bool) -> None:
        key = f"services.{name}"
        wanted_path: tuple[Kind, ...] = ("dir", "file") if spec.context else ("dir",)
        path_ok = self.exists(
            f"{key}.path", spec.path, wanted_path, "correct it to the service's folder"
        )
        context_ok = spec.context is None or self.exists(
            f"{key}.context", spec.context, ("dir",), "correct it to the folder docker builds from"
        )
        if spec.dockerfile:
            self.exists(
                f"{key}.dockerfile",
                spec.dockerfile,
                ("file",),
                "correct it to the Dockerfile's path",
            )
        elif path_ok and context_ok:
            default = _dockerfile(spec)
            if self.tree.kind(default) != "file":
                self.add(
                    f"{key}.dockerfile",
                    f"no Dockerfile at {default!r} (the default without dockerfile:)",
                    "add it, or set dockerfile: to the Dockerfile's path",
                )
        for index, dep in enumerate(spec.depends_on):
            self.exists(f"{key}.depends_on.{index}", dep, ("dir", "file"), "correct or remove it")
        if path_ok:
            self.ignored(key, spec)
        for manifest_key, path in manifest_keys(self.project, name) if manifests else ():
            fix = "set manifest: to the file the service's image is written in"
            if manifest_key != f"{key}.manifest":  # an environment's own manifest:
                fix = "correct it to the file the service's image is written in"
            elif spec.manifest is None or PLACEHOLDER in spec.manifest:
                fix = f"create it, or {fix}"
            self.exists(manifest_key, path, ("file",), fix)

    def global_paths(self) -> None:
        for index, path in enumerate(self.project.global_paths):
            self.exists(f"global_paths.{index}", path, ("dir", "file"), "correct or remove it")

    def exists(self, key: str, path: str, wanted: tuple[Kind, ...], fix: str) -> bool:
        """Whether `path` is there as one of `wanted`; a problem saying what it is if not."""
        kind = self.tree.kind(path)
        if kind in wanted:
            return True
        if kind is None:
            close = _close_path(self.tree, path)
            self.add(key, f"{path!r} does not exist", f"did you mean {close!r}?" if close else fix)
        elif kind == "link":
            self.add(key, f"{path!r} is a symbolic link, which Shipline never follows", fix)
        else:
            expected = " or ".join("a directory" if w == "dir" else "a file" for w in wanted)
            self.add(key, f"{path!r} is not {expected}", fix)
        return False

    def ignored(self, key: str, spec: ServiceSpec) -> None:
        """An `ignore` glob that covers the service's folder: a push there never builds it."""
        try:
            index = index_of(self.project)
        except ConfigError as exc:
            self.add("ignore", str(exc).removeprefix(f"{PROJECT_FILE}: ignore: "))
            return
        if index.is_ignored(spec.path.rstrip("/")):
            self.add(
                f"{key}.path",
                f"{spec.path!r} is covered by an ignore glob: changes there never build it",
                "narrow the ignore pattern",
            )
        elif index.is_ignored(_dockerfile(spec)):
            self.add(
                f"{key}.dockerfile",
                f"{_dockerfile(spec)!r} is covered by an ignore glob: changing it never "
                "rebuilds the service",
                "narrow the ignore pattern",
            )

    def manifest_content(self, name: str, spec: ServiceSpec, path: str, key: str) -> None:
        """Whether the committer could write the image into the manifest (when it is there)."""
        if self.tree.kind(path) != "file":
            return
        try:
            text = self.tree.read_text(path, self.max_bytes) or ""
        except PermanentError as exc:
            self.add(key, str(exc), "keep manifests under the size limit")
            return
        repository = self.project.image_repository(name)
        problem = _manifest_problem(text, name, spec, repository)
        if problem is not None:
            self.add(key, f"{path}: {problem}", _manifest_fix(manifest_format(text, spec), spec))


_CHECKED: dict[tuple[object, ...], str | None] = {}  # manifest and entry → the problem
_MAX_CHECKED = 1024


def _manifest_problem(text: str, name: str, spec: ServiceSpec, repository: str) -> str | None:
    """Why the committer could not write the service's image into `text`, or None. Cached:
    a manifest is parsed again only when it, or what the entry says about it, changed."""
    key: tuple[object, ...] = (text, name, repository, spec.format, spec.container)
    key += (spec.image_name, spec.helm, spec.pin_digest)
    if key in _CHECKED:
        return _CHECKED[key]
    try:
        write_image(text, name, spec, _probe(repository, spec))
        problem = None
    except ManifestError as exc:
        problem = str(exc)
    if len(_CHECKED) >= _MAX_CHECKED:
        _CHECKED.clear()
    _CHECKED[key] = problem
    return problem


def _probe(repository: str, spec: ServiceSpec) -> ImageRef:
    """An image to write in memory: the edit a deploy makes, so every key it needs is asked for."""
    digest = "sha256:" + "0" * 64
    return ImageRef(repository, "shipline-validate", digest, pinned=spec.pin_digest)


def _manifest_fix(found: str, spec: ServiceSpec) -> str:
    if found == "kustomize":
        return "add an images: entry for it, or set image_name: to the entry's name"
    if found == "helm":
        return "set helm.repository and helm.tag (helm.digest) to the keys the values file uses"
    if spec.format is None:
        return "set container: to the container's name (format: helm for a values file)"
    return "set container: to the container's name"


def _dockerfile(spec: ServiceSpec) -> str:
    return spec.dockerfile or posixpath.join(spec.path.rstrip("/"), "Dockerfile")


def _close_path(tree: Tree, path: str) -> str | None:
    """The existing path one misspelt component away (`src/usr` → `src/user`), if any."""
    parts = [part for part in path.strip("/").split("/") if part]
    for depth in range(len(parts)):
        above = "/".join(parts[:depth])
        if tree.kind("/".join(parts[: depth + 1])) is not None:
            continue
        close = difflib.get_close_matches(parts[depth], tree.entries(above), n=1, cutoff=0.6)
        if not close:
            return None
        guess = "/".join([*parts[:depth], close[0], *parts[depth + 1 :]])
        if tree.kind(guess) is None:
            return "/".join([*parts[:depth], close[0]])
        return guess + "/" * path.endswith("/")  # as the user writes it
    return None


def problems_at_commit(
    mirror: Mirror,
    commit: str,
    repository: str | None = None,
    max_bytes: int | None = None,
) -> list[ProjectProblem]:
    """Everything wrong with shipline.yaml at `commit` of a fetched mirror (`shipline doctor`
    asks this of a repository's default branch). `repository`: the configured name, so that
    manifests are looked for unless shipline.yaml sends them to another gitops repository.
    """
    with CommitTree(mirror, commit) as tree:
        text = tree.read_text(PROJECT_FILE, max_bytes or DEFAULT_MAX_BYTES)
        if text is not None:
            return problems_in_text(text, tree, repository=repository, max_bytes=max_bytes)
    return [
        ProjectProblem(
            file=PROJECT_FILE,
            key="",
            problem=f"missing at {commit[:7]}",
            fix="commit one at the repository's root (docs/shipline-yaml.md)",
        )
    ]
