"""The path rules of shipline.yaml: ignore globs, global paths, watched directories."""

from __future__ import annotations

import re
import time

import pytest

from services.common.errors import ConfigError
from services.common.project import MAX_PATTERNS, parse_project
from services.detector.paths import PathIndex, affected, glob_regex, ignore_matcher

PROJECT = parse_project(
    """\
registry: registry.example.com/acme
global_paths: [go.work, tools/build/]
ignore: ["*.md", "docs/", "services/*/testdata/**"]
services:
  api:
    path: services/api/
    depends_on: [libs/auth/, proto/api.proto]
  worker:
    path: services/worker
  whole:
    path: .
"""
)


def matches(pattern: str, path: str) -> bool:
    with_re2 = ignore_matcher([pattern])
    assert with_re2 is not None
    assert with_re2(path) is (re.fullmatch(glob_regex(pattern), path) is not None)
    return with_re2(path)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.md", "README.md", True),
        ("*.md", "services/api/docs/USAGE.md", True),
        ("*.md", "services/api/md", False),
        ("docs/", "docs/adr/0001.txt", True),
        ("docs", "docs/adr/0001.txt", True),
        ("docs/", "services/docs/x", True),
        ("docs/**", "docs/a/b/c", True),
        ("services/*/testdata/**", "services/api/testdata/in.json", True),
        ("services/*/testdata/**", "services/api/sub/testdata/in.json", False),
        ("**/testdata/*.json", "testdata/a.json", True),
        ("**/testdata/*.json", "x/y/testdata/a.json", True),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file/.txt", False),
        ("a.b", "aXb", False),
    ],
)
def test_ignore_globs_follow_gitignore_rules(pattern, path, expected):
    assert matches(pattern, path) is expected


def test_a_backtracking_glob_against_a_long_name_is_decided_at_once():
    ignored = ignore_matcher(["a**a**a**a**a**a**a**b"])  # Python's re: 93 s at 120 characters
    assert ignored is not None

    started = time.perf_counter()
    for length in (110, 120, 4000):
        assert not ignored("a" * length)
    assert time.perf_counter() - started < 1


def test_a_file_name_that_is_not_utf8_is_matched_without_failing():
    ignored = ignore_matcher(["*.md"])
    assert ignored is not None

    assert ignored("docs/\udcffnotes.md") is True  # as git's bytes decode with surrogateescape
    assert ignored("src/\udcff.py") is False


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("ignore", ["*.md"] * (MAX_PATTERNS + 1), f"at most {MAX_PATTERNS} items"),
        ("global_paths", ["go.work"] * (MAX_PATTERNS + 1), f"at most {MAX_PATTERNS} items"),
        ("ignore.0", ["a*" * 200], "at most 256 characters"),
    ],
)
def test_too_many_or_too_long_path_patterns_are_a_config_error_naming_the_key(key, value, problem):
    field = key.split(".")[0]
    text = f"registry: r.example.com/a\n{field}: {value!r}\nservices: {{}}\n"

    with pytest.raises(ConfigError, match=rf"{re.escape(key)}: .*{problem}"):
        parse_project(text)


def test_a_path_maps_to_the_services_watching_it_or_any_directory_above_it():
    index = PathIndex(PROJECT)

    assert dict(index.watchers("services/api/main.go")) == {"api": "paths", "whole": "paths"}
    assert dict(index.watchers("libs/auth/jwt.go")) == {"api": "dependency", "whole": "paths"}
    assert dict(index.watchers("proto/api.proto")) == {"api": "dependency", "whole": "paths"}
    assert dict(index.watchers("proto/api.proto.bak")) == {"whole": "paths"}
    assert dict(index.watchers("services/worker2/x")) == {"whole": "paths"}


def test_global_paths_match_files_and_directories_by_prefix():
    index = PathIndex(PROJECT)

    assert index.is_global("go.work")
    assert index.is_global("tools/build/Makefile")
    assert not index.is_global("go.work.sum")
    assert not index.is_global("tools/buildx/x")


def test_a_global_path_rebuilds_every_service_and_says_which_path():
    result = affected(PROJECT, ["go.work"])

    assert not isinstance(result, str)
    assert sorted(result.triggers) == ["api", "whole", "worker"]
    assert result.triggers["worker"].paths(result.shared) == ("go.work",)
    assert result.triggers["worker"].reason == "dependency"


def test_shipline_yaml_with_no_earlier_version_counts_as_a_change_to_every_entry():
    result = affected(PROJECT, ["shipline.yaml"], previous=[None])

    assert not isinstance(result, str)
    assert sorted(result.triggers) == ["api", "whole", "worker"]


def test_an_ignored_path_is_dropped_before_any_rule_applies():
    assert affected(PROJECT, ["services/api/README.md", "go.md"]) == "only ignored paths changed"


def test_no_changed_paths_at_all_rebuild_nothing():
    assert affected(PROJECT, []) == "no service changed"


ENVIRONMENTS = parse_project(
    """\
registry: registry.example.com/acme
environments: [{name: staging}, {name: production, from: staging}]
services:
  api:
    path: services/api/
    manifest: services/api/deploy/{environment}.yaml
  web:
    path: web/
    environments: {production: {manifest: web/prod.yaml}}
"""
)


@pytest.mark.parametrize(
    "changed",
    [
        ["services/api/deploy/staging.yaml"],
        ["services/api/deploy/production.yaml"],
        ["web/prod.yaml", "k8s/manifests/web/deployment.yaml"],
    ],
)
def test_a_commit_to_any_environments_manifest_rebuilds_nothing(changed):
    assert affected(ENVIRONMENTS, changed) == "only manifest paths changed"


def test_with_manifests_in_another_repository_no_environments_manifest_is_set_aside():
    found = affected(ENVIRONMENTS, ["services/api/deploy/production.yaml"], manifests_here=False)

    assert not isinstance(found, str)
    assert list(found.triggers) == ["api"]


def test_an_environments_manifest_in_its_own_gitops_repository_is_a_source_path_here():
    project = parse_project(
        "registry: registry.example.com/acme\n"
        "environments: [{name: staging}, {name: us, from: staging, gitops: {repository: a/us}}]\n"
        "services:\n  api:\n    path: api/\n    manifest: api/deploy/{environment}.yaml\n"
    )

    assert affected(project, ["api/deploy/staging.yaml"]) == "only manifest paths changed"
    found = affected(project, ["api/deploy/us.yaml"])
    assert not isinstance(found, str)
    assert list(found.triggers) == ["api"]
