import pytest

from services.committer.helm import helm_image, set_helm_image
from services.committer.images import ImageRef
from services.committer.yamlsplice import ManifestError
from services.common.project import HelmKeys

DIGEST = "sha256:" + "ab" * 32
REPO = "127.0.0.1:5000/microbank/user-service"

VALUES = f"""\
# Default values for user-service.
replicaCount: 2

image:
  repository: {REPO}   # set by Shipline
  pullPolicy: IfNotPresent
  # Overrides the chart's appVersion.
  tag: "sha-1111111"

service: {{type: ClusterIP, port: 80}}
"""

NESTED = """\
app:
  containers:
    api:
      image:
        registry: ghcr.io
        name: acme/api
        version: '1.0'
        sha: ""
"""


def test_default_keys_get_the_new_tag_and_nothing_else_changes() -> None:
    edit = set_helm_image(VALUES, ImageRef(REPO, "sha-2222222"), HelmKeys())

    assert edit.changed
    assert edit.old_image == f"{REPO}:sha-1111111"
    assert edit.text == VALUES.replace('tag: "sha-1111111"', 'tag: "sha-2222222"')
    assert helm_image(edit.text, HelmKeys()) == f"{REPO}:sha-2222222"


def test_a_new_repository_is_written_too() -> None:
    other = "registry.acme.dev/bank/user-service"

    edit = set_helm_image(VALUES, ImageRef(other, "v1.2.3"), HelmKeys())

    assert f"  repository: {other}   # set by Shipline\n" in edit.text
    assert '  tag: "v1.2.3"\n' in edit.text


def test_pin_without_a_digest_key_goes_into_the_tag() -> None:
    edit = set_helm_image(VALUES, ImageRef(REPO, "sha-2222222", DIGEST, pinned=True), HelmKeys())

    assert f'  tag: "sha-2222222@{DIGEST}"\n' in edit.text
    assert helm_image(edit.text, HelmKeys()) == f"{REPO}:sha-2222222@{DIGEST}"


def test_configured_key_paths_including_a_digest_key() -> None:
    keys = HelmKeys(
        repository="app.containers.api.image.name",
        tag="app.containers.api.image.version",
        digest="app.containers.api.image.sha",
    )

    edit = set_helm_image(NESTED, ImageRef("acme/api", "1.1", DIGEST), keys)

    assert edit.text == NESTED.replace("'1.0'", "'1.1'").replace('sha: ""', f'sha: "{DIGEST}"')
    assert helm_image(edit.text, keys) == f"acme/api:1.1@{DIGEST}"


def test_numeric_looking_plain_tag_is_quoted() -> None:
    edit = set_helm_image("image:\n  tag: 1.0\n", ImageRef("x", "1.10"), HelmKeys(repository=None))

    assert edit.text == 'image:\n  tag: "1.10"\n'


def test_missing_key_is_an_error_naming_it() -> None:
    with pytest.raises(ManifestError, match="no image.tag"):
        set_helm_image("image:\n  repository: x\n", ImageRef("x", "1"), HelmKeys())


def test_digest_key_without_a_known_digest_is_an_error() -> None:
    keys = HelmKeys(digest="image.digest")
    with pytest.raises(ManifestError, match="wants a digest"):
        set_helm_image(VALUES, ImageRef(REPO, "v1"), keys)
