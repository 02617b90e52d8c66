import uuid

import pytest
from ruamel.yaml import YAML

from services.committer.manifest import (
    ImageEdit,
    ManifestError,
    container_image,
    set_container_image,
)

NEW = "127.0.0.1:5000/microbank/user-service:sha-1a2b3c4"

DEPLOYMENT = """\
# user-service: the API in front of the user store
apiVersion: apps/v1
kind: Deployment
metadata:
  name: user-service
  labels: {app: user-service, tier: backend}

spec:
  replicas: 2   # two is enough for the demo
  template:
    metadata:
      labels:
        app: user-service
    spec:
      containers:
        - name: user-service
          # bumped by shipline
          image: 127.0.0.1:5000/microbank/user-service:initial   # do not edit by hand
          ports:
            - containerPort: 8080
"""

MULTI_DOCUMENT = """\
---
# Service first, then the workload.
apiVersion: v1
kind: Service
metadata:
  name: account-service
spec:
  ports:
    - port: 80   # image: not-this-one:1
---

# the workload
apiVersion: apps/v1
kind: Deployment
metadata:
  name: account-service
spec:
  template:
    spec:
      containers:
      - name: account-service
        image: "registry.example.com/bank/account-service:v1.0.0"
        env:
          - {name: IMAGE, value: "registry.example.com/bank/account-service:v1.0.0"}
...
"""

WITH_SIDECAR = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: ledger
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: reg.io/bank/ledger-migrate:1
      containers:
        - name: ledger
          image: reg.io/bank/ledger:1
        - name: log-shipper   # sidecar
          image: reg.io/infra/fluent-bit:2.2
"""

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: statements
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: statements
              image: 'reg.io/bank/statements:2024.1'
"""


def pod_spec_workload(kind: str, path: str, image: str = "reg.io/x/app:1") -> str:
    """A minimal workload of `kind` whose pod spec sits under the dotted `path`."""
    lines = [f"kind: {kind}", "metadata:", "  name: app"]
    indent = ""
    for key in path.split("."):
        lines.append(f"{indent}{key}:")
        indent += "  "
    lines += [f"{indent}containers:", f"{indent}- name: app", f"{indent}  image: {image}"]
    return "\n".join(lines) + "\n"


def assert_only_image_changed(before: str, after: str, old: str, new: str) -> None:
    """Every line is byte-identical except one, where exactly `old` became `new`."""
    before_lines = before.splitlines(keepends=True)
    after_lines = after.splitlines(keepends=True)
    assert len(before_lines) == len(after_lines)
    changed = [(b, a) for b, a in zip(before_lines, after_lines, strict=True) if b != a]
    assert len(changed) == 1, changed
    line_before, line_after = changed[0]
    assert line_before.count(old) == 1
    assert line_before.replace(old, new) == line_after


def test_only_the_image_value_changes_and_comments_survive() -> None:
    old = "127.0.0.1:5000/microbank/user-service:initial"

    edit = set_container_image(DEPLOYMENT, NEW)

    assert edit == ImageEdit(text=edit.text, old_image=old, changed=True)
    assert_only_image_changed(DEPLOYMENT, edit.text, old, NEW)
    assert f"image: {NEW}   # do not edit by hand\n" in edit.text


def test_multi_document_file_edits_the_workload_and_keeps_separators_and_the_service() -> None:
    old = "registry.example.com/bank/account-service:v1.0.0"

    edit = set_container_image(MULTI_DOCUMENT, NEW, container="account-service")

    assert edit.old_image == old
    assert edit.text.startswith("---\n# Service first")
    assert edit.text.count("\n---\n") == 1
    assert edit.text.endswith("\n...\n")
    # the env value with the same string is untouched: only the image line differs
    before = MULTI_DOCUMENT.splitlines()
    after = edit.text.splitlines()
    assert [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a] == [21]
    assert after[21] == f'        image: "{NEW}"'


def test_container_is_chosen_by_name_among_several() -> None:
    edit = set_container_image(WITH_SIDECAR, "reg.io/infra/fluent-bit:3.0", "log-shipper")

    assert edit.old_image == "reg.io/infra/fluent-bit:2.2"
    assert_only_image_changed(
        WITH_SIDECAR, edit.text, "reg.io/infra/fluent-bit:2.2", "reg.io/infra/fluent-bit:3.0"
    )


def test_several_containers_and_no_name_is_an_error_listing_them() -> None:
    with pytest.raises(ManifestError, match=r"2 containers.*'ledger', 'log-shipper'"):
        set_container_image(WITH_SIDECAR, NEW)


def test_same_container_name_in_two_workloads_is_ambiguous() -> None:
    text = pod_spec_workload("Deployment", "spec.template.spec")
    text += "---\n" + pod_spec_workload("DaemonSet", "spec.template.spec")

    expected = r"ambiguous.*document 1 \(Deployment/app\).*document 2 \(DaemonSet/app\)"
    with pytest.raises(ManifestError, match=expected):
        set_container_image(text, NEW, "app")


def test_unknown_container_name_lists_the_containers_present() -> None:
    expected = r"no container named 'web'.*'ledger', 'log-shipper', 'migrate' \(init\)"
    with pytest.raises(ManifestError, match=expected):
        set_container_image(WITH_SIDECAR, NEW, "web")


def test_init_container_is_edited_only_when_no_regular_container_has_the_name() -> None:
    edit = set_container_image(WITH_SIDECAR, "reg.io/bank/ledger-migrate:2", "migrate")

    assert edit.old_image == "reg.io/bank/ledger-migrate:1"
    assert "image: reg.io/bank/ledger:1\n" in edit.text


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("image: 'reg.io/x/app:1'", f"image: '{NEW}'"),
        ('image: "reg.io/x/app:1"', f'image: "{NEW}"'),
        ("image: reg.io/x/app:1", f"image: {NEW}"),
        ("image: !!str reg.io/x/app:1", f"image: !!str {NEW}"),
    ],
)
def test_image_keeps_the_quote_style_it_was_written_in(written: str, expected: str) -> None:
    text = pod_spec_workload("Pod", "spec").replace("image: reg.io/x/app:1", written)

    edit = set_container_image(text, NEW)

    assert edit.old_image == "reg.io/x/app:1"
    assert edit.text == text.replace(written, expected)


def test_cronjob_image_is_found_under_the_job_template() -> None:
    edit = set_container_image(CRONJOB, "reg.io/bank/statements:2024.2")

    assert edit.old_image == "reg.io/bank/statements:2024.1"
    assert "image: 'reg.io/bank/statements:2024.2'\n" in edit.text
    assert_only_image_changed(CRONJOB, edit.text, "2024.1", "2024.2")


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Pod", "spec"),
        ("Deployment", "spec.template.spec"),
        ("StatefulSet", "spec.template.spec"),
        ("DaemonSet", "spec.template.spec"),
        ("ReplicaSet", "spec.template.spec"),
        ("Job", "spec.template.spec"),
        ("CronJob", "spec.jobTemplate.spec.template.spec"),
    ],
)
def test_every_workload_kind_has_its_pod_spec_found(kind: str, path: str) -> None:
    text = pod_spec_workload(kind, path)

    edit = set_container_image(text, NEW)

    assert_only_image_changed(text, edit.text, "reg.io/x/app:1", NEW)


def test_unchanged_image_reports_no_change_and_returns_the_same_text() -> None:
    edit = set_container_image(MULTI_DOCUMENT, "registry.example.com/bank/account-service:v1.0.0")

    assert edit.changed is False
    assert edit.text == MULTI_DOCUMENT


def test_digest_references_are_accepted() -> None:
    digest = "sha256:" + "ab" * 32

    pinned = set_container_image(DEPLOYMENT, f"reg.io/bank/user-service@{digest}")
    tagged_and_pinned = set_container_image(DEPLOYMENT, f"reg.io/bank/user-service:v2@{digest}")

    assert f"image: reg.io/bank/user-service@{digest}   #" in pinned.text
    assert f"image: reg.io/bank/user-service:v2@{digest}   #" in tagged_and_pinned.text


@pytest.mark.parametrize(
    "image",
    [
        "",
        "reg.io/bank/user-service",  # no tag, no digest
        "reg.io/bank/user service:1",
        "reg.io/bank/user-service:1\nkind: Secret",
        "reg.io/bank/user-service:1'",
        'reg.io/bank/user-service:1"',
        "reg.io/bank/user-service:1 # x",
        "reg.io/bank/User-Service:1",
        "reg.io/bank/user-service@sha256:abc",
        "reg.io/bank/user-service:-1",
    ],
)
def test_invalid_image_reference_is_rejected(image: str) -> None:
    with pytest.raises(ManifestError, match="invalid image reference"):
        set_container_image(DEPLOYMENT, image)


def test_numeric_looking_image_is_quoted_where_it_was_plain() -> None:
    edit = set_container_image(pod_spec_workload("Pod", "spec"), "10:20")

    assert 'image: "10:20"\n' in edit.text


def test_yaml_syntax_error_names_the_line() -> None:
    broken = DEPLOYMENT.replace("replicas: 2", "replicas: [2")

    with pytest.raises(ManifestError, match=r"not valid YAML at line \d+"):
        set_container_image(broken, NEW)


def test_file_without_a_workload_is_an_error() -> None:
    service_only = MULTI_DOCUMENT.split("---\n\n")[0]

    with pytest.raises(ManifestError, match="no workload with containers"):
        set_container_image(service_only, NEW)

    with pytest.raises(ManifestError, match="no workload"):
        set_container_image("just some text\n", NEW)


@pytest.mark.parametrize(
    ("replacement", "problem"), [("  image:\n", "image is empty"), ("", "has no image")]
)
def test_container_without_an_image_is_an_error_naming_it(replacement: str, problem: str) -> None:
    text = pod_spec_workload("Pod", "spec").replace("  image: reg.io/x/app:1\n", replacement)

    with pytest.raises(ManifestError, match=rf"document 1 \(Pod/app\), container 'app'.*{problem}"):
        set_container_image(text, NEW)


def test_crlf_line_endings_and_a_missing_final_newline_are_kept() -> None:
    text = DEPLOYMENT.replace("\n", "\r\n").rstrip("\r\n")

    edit = set_container_image(text, NEW)

    assert edit.text.count("\r\n") == text.count("\r\n")
    assert not edit.text.endswith("\n")
    assert_only_image_changed(text, edit.text, "user-service:initial", NEW.split("/")[-1])


def test_flow_style_containers_are_edited_in_place() -> None:
    text = "kind: Pod\nspec:\n  containers: [{name: a, image: reg.io/x/a:1}, {name: b}]\n"

    edit = set_container_image(text, "reg.io/x/a:2", "a")

    assert edit.text == text.replace("reg.io/x/a:1", "reg.io/x/a:2")


def test_a_deploy_composes_a_manifest_its_process_read_before_only_once(monkeypatch) -> None:
    name = f"web-{uuid.uuid4().hex[:8]}"  # a text no other test composed in this process
    text = (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n"
        "  template:\n    spec:\n      containers:\n        - name: app\n"
        "          image: reg/web:v1\n"
    )
    composed: list[str] = []
    compose_all = YAML.compose_all

    def counted(self: YAML, stream: str):  # type: ignore[no-untyped-def]
        composed.append(stream)
        return compose_all(self, stream)

    monkeypatch.setattr(YAML, "compose_all", counted)

    assert container_image(text) == "reg/web:v1"  # the survey after the commit before
    edit = set_container_image(text, "reg/web:v2")  # the deploy, and its read-back check
    assert container_image(edit.text) == "reg/web:v2"  # the survey after this commit

    assert composed == [text, edit.text]
