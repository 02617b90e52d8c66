"""shipline.yaml's build rules: release tags, global paths and ignore globs."""

import pytest

from services.common.errors import ConfigError
from services.common.project import parse_project

BASE = "registry: registry.example.com/acme\nservices:\n  api:\n    path: api/\n"


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_project(text, origin="acme/mono@1a2b3c4:shipline.yaml")
    return str(caught.value)


def test_the_rules_default_to_semver_release_tags_and_nothing_global_or_ignored():
    project = parse_project(BASE)

    assert project.release_tags == ("v*.*.*",)
    assert project.global_paths == ()
    assert project.ignore == ()


def test_the_rules_are_read_from_the_top_level():
    project = parse_project(
        BASE
        + "release_tags: ['v*', 'release-*']\n"
        + "global_paths: [package-lock.json, tools/ci/]\n"
        + "ignore: ['*.md', 'docs/**']\n"
    )

    assert project.release_tags == ("v*", "release-*")
    assert project.global_paths == ("package-lock.json", "tools/ci/")
    assert project.ignore == ("*.md", "docs/**")


@pytest.mark.parametrize(
    ("line", "key", "problem"),
    [
        ("global_paths: [../secrets]", "global_paths.0", "must not contain '..'"),
        ("global_paths: ['*.lock']", "global_paths.0", "may only hold"),
        ("global_paths: [/etc/passwd]", "global_paths.0", "relative path"),
        ("ignore: ['docs/$(id)']", "ignore.0", "may only hold"),
        ("ignore: ['../**']", "ignore.0", "must not contain '..'"),
        ("ignore: '*.md'", "ignore", "tuple"),
        ("release_tags: ['v;1']", "release_tags.0", "tag glob"),
        ("release_tags: ['']", "release_tags.0", "tag glob"),
    ],
)
def test_bad_rules_are_rejected_naming_the_file_and_the_key(line, key, problem):
    message = config_error(BASE + line + "\n")

    assert message.startswith("acme/mono@1a2b3c4:shipline.yaml: ")
    assert f"{key}: " in message
    assert problem in message
