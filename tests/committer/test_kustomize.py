import pytest

from services.committer.images import ImageRef
from services.committer.kustomize import kustomize_image, set_kustomize_image
from services.committer.yamlsplice import ManifestError

DIGEST = "sha256:" + "ab" * 32
OLD_DIGEST = "sha256:" + "cd" * 32
REPO = "127.0.0.1:5000/microbank/user-service"

KUSTOMIZATION = f"""\
# prod overlay
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base   # the shared manifests
images:
  - name: account-service
    newName: {REPO.replace("user", "account")}
    newTag: "sha-0000000"
  - name: user-service        # the API
    newName: {REPO}
    newTag: 'sha-1111111'   # bumped by Shipline
"""


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(o, n) for o, n in zip(old, new, strict=True) if o != n]


def test_new_tag_is_set_in_the_entry_named_after_the_service_and_nothing_else_changes() -> None:
    edit = set_kustomize_image(KUSTOMIZATION, ImageRef(REPO, "sha-2222222"), ["user-service"])

    assert edit.changed
    assert edit.old_image == f"{REPO}:sha-1111111"
    assert changed_lines(KUSTOMIZATION, edit.text) == [
        (
            "    newTag: 'sha-1111111'   # bumped by Shipline\n",
            "    newTag: 'sha-2222222'   # bumped by Shipline\n",
        )
    ]
    assert kustomize_image(edit.text, ["user-service"]) == f"{REPO}:sha-2222222"


def test_entry_is_also_found_by_its_new_name() -> None:
    edit = set_kustomize_image(KUSTOMIZATION, ImageRef(REPO, "sha-2222222"), [REPO])

    assert "newTag: 'sha-2222222'" in edit.text
    assert 'newTag: "sha-0000000"' in edit.text


def test_pinning_adds_a_digest_key_at_the_entrys_indentation() -> None:
    edit = set_kustomize_image(
        KUSTOMIZATION, ImageRef(REPO, "sha-2222222", DIGEST, pinned=True), ["user-service"]
    )

    assert edit.text.endswith(
        f"    newTag: 'sha-2222222'   # bumped by Shipline\n    digest: {DIGEST}\n"
    )
    assert kustomize_image(edit.text, ["user-service"]) == f"{REPO}:sha-2222222@{DIGEST}"


def test_an_existing_digest_is_updated_even_without_pinning() -> None:
    text = KUSTOMIZATION.replace(
        '    newTag: "sha-0000000"\n', f'    newTag: "sha-0000000"\n    digest: {OLD_DIGEST}\n'
    )
    repo = REPO.replace("user", "account")

    edit = set_kustomize_image(text, ImageRef(repo, "sha-3333333", DIGEST), ["account-service"])

    assert changed_lines(text, edit.text) == [
        ('    newTag: "sha-0000000"\n', '    newTag: "sha-3333333"\n'),
        (f"    digest: {OLD_DIGEST}\n", f"    digest: {DIGEST}\n"),
    ]


def test_missing_new_name_and_new_tag_are_added_when_the_repository_differs() -> None:
    text = "images:\n- name: user-service\nresources: [deployment.yaml]\n"

    edit = set_kustomize_image(text, ImageRef(REPO, "v1.2.3"), ["user-service"])

    assert edit.text == (
        f"images:\n- name: user-service\n  newName: {REPO}\n  newTag: v1.2.3\n"
        "resources: [deployment.yaml]\n"
    )
    assert edit.old_image == "user-service"


def test_numeric_looking_tag_is_added_quoted() -> None:
    edit = set_kustomize_image(f"images:\n  - name: {REPO}\n", ImageRef(REPO, "1.10"), [REPO])

    assert edit.text == f'images:\n  - name: {REPO}\n    newTag: "1.10"\n'


def test_same_image_reports_no_change() -> None:
    edit = set_kustomize_image(KUSTOMIZATION, ImageRef(REPO, "sha-1111111"), ["user-service"])

    assert not edit.changed
    assert edit.text == KUSTOMIZATION


def test_missing_entry_is_an_error_listing_the_entries() -> None:
    with pytest.raises(ManifestError, match=r"no images entry named 'frontend'.*account-service"):
        set_kustomize_image(KUSTOMIZATION, ImageRef(REPO, "x"), ["frontend"])


def test_file_without_images_is_an_error() -> None:
    with pytest.raises(ManifestError, match="no images: list"):
        set_kustomize_image("resources: [a.yaml]\n", ImageRef(REPO, "x"), ["user-service"])


def test_flow_style_entry_is_edited_in_place_but_not_extended() -> None:
    text = f"images:\n  - {{name: user-service, newName: {REPO}, newTag: old}}\n"

    edit = set_kustomize_image(text, ImageRef(REPO, "new"), ["user-service"])
    assert edit.text == text.replace("newTag: old", "newTag: new")

    with pytest.raises(ManifestError, match="flow mapping"):
        set_kustomize_image(text, ImageRef(REPO, "new", DIGEST, pinned=True), ["user-service"])


def test_crlf_line_endings_are_kept_when_a_key_is_added() -> None:
    text = "images:\r\n  - name: user-service\r\n    newTag: old\r\n"

    edit = set_kustomize_image(
        text, ImageRef("user-service", "new", DIGEST, True), ["user-service"]
    )

    assert edit.text == (
        f"images:\r\n  - name: user-service\r\n    newTag: new\r\n    digest: {DIGEST}\r\n"
    )
