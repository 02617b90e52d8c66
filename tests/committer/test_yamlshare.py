"""Edits through YAML anchors, aliases and merge keys: refused with why and what to do, or
(an anchor's own place named by the user, an unrelated anchor) done byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from services.committer.helm import helm_image, set_helm_image
from services.committer.images import ImageEdit, ImageRef
from services.committer.kustomize import set_kustomize_image
from services.committer.manifest import set_container_image
from services.committer.yamlsplice import ManifestError
from services.common.project import HelmKeys

CURL = "curlimages/curl"

# The file of the issue: two jobs alias one image definition.
SHARED_CURL = """\
images:
  curl: &curl
    repository: curlimages/curl
    tag: "8.1"
jobA:
  image: *curl
jobB:
  image: *curl
"""


@dataclass(frozen=True)
class Case:
    file: str
    edit: Callable[[str], ImageEdit]
    expected: str  # the whole new file, or (starting with "refused:") a regex of the refusal


def helm(new_tag: str, **keys: str) -> Callable[[str], ImageEdit]:
    return lambda text: set_helm_image(text, ImageRef(CURL, new_tag), HelmKeys(**keys))  # type: ignore[arg-type]


def container(image: str, name: str) -> Callable[[str], ImageEdit]:
    return lambda text: set_container_image(text, image, name)


def kustomize(tag: str) -> Callable[[str], ImageEdit]:
    return lambda text: set_kustomize_image(text, ImageRef("reg.io/x/app", tag), ["app"])


def pod(containers: str, prefix: str = "") -> str:
    return f"{prefix}kind: Pod\nmetadata: {{name: p}}\nspec:\n{containers}"


CASES = {
    "a job's image that is an alias of a shared anchor (the issue)": Case(
        SHARED_CURL,
        helm("8.2", repository="jobA.image.repository", tag="jobA.image.tag"),
        r"refused:^values jobA.image.tag: jobA.image is an alias \(\*curl\) of images.curl "
        r"\(&curl, line 2\), also used by jobB.image. Setting jobA.image.tag would change "
        r"images.curl.tag and so every alias of &curl. To deploy, give jobA.image its own "
        r"value \(replace \*curl by a copy\), or point the service's helm keys at "
        r"images.curl.tag to change the shared value$",
    ),
    "the anchor's own place named in the helm keys changes the shared value": Case(
        SHARED_CURL,
        helm("8.2", repository="images.curl.repository", tag="images.curl.tag"),
        SHARED_CURL.replace('"8.1"', '"8.2"'),
    ),
    "the default helm keys through an anchor's own place": Case(
        "image: &img\n  repository: curlimages/curl\n  tag: '1'\nmigrate:\n  image: *img\n",
        helm("2"),
        r"refused:^values image.tag: image is anchored \(&img\) and also used by migrate.image"
        r"\. Setting image.tag would change those too\. To deploy, give each its own value "
        r"\(replace \*img by a copy\), or name image.tag in the service's helm keys",
    ),
    "nested anchors: the alias is an ancestor of the image": Case(
        "base: &base\n  pod:\n    image: &img {repository: curlimages/curl, tag: '1'}\n"
        "jobA: *base\n",
        helm("2", repository="jobA.pod.image.repository", tag="jobA.pod.image.tag"),
        r"refused:jobA is an alias \(\*base\) of base \(&base, line 1\)\. Setting "
        r"jobA.pod.image.tag would change base.pod.image.tag and so every alias of &base",
    ),
    "an anchored scalar used by an alias": Case(
        "image:\n  repository: curlimages/curl\n  tag: &t '1'\nsidecar: {tag: *t}\n",
        helm("2"),
        r"refused:image.tag is anchored \(&t\) and also used by sidecar.tag",
    ),
    "an anchored scalar nothing else uses keeps its anchor": Case(
        "image:\n  repository: curlimages/curl\n  tag: &t '1'  # pinned\n",
        helm("2"),
        "image:\n  repository: curlimages/curl\n  tag: &t '2'  # pinned\n",
    ),
    "a mapping a merge key brings in": Case(
        "base: &base\n  image: {repository: curlimages/curl, tag: '1'}\n"
        "svc:\n  <<: *base\n  replicas: 2\n",
        helm("2", repository="svc.image.repository", tag="svc.image.tag"),
        r"refused:svc.image comes from a merge key \(<<: \*base\): it is base.image\. Setting "
        r"svc.image.tag would change base.image for everything that merges it\. To deploy, "
        r"write svc's own image: beside the merge key \(a copy of base.image\), or point the "
        r"service's helm keys at base.image.tag to change the shared value$",
    ),
    "a tag a merge key brings in never lands on the base": Case(
        "defaults: &defaults {tag: '1'}\nimage:\n  <<: *defaults\n  repository: curlimages/curl\n",
        helm("2"),
        r"refused:image.tag comes from a merge key \(<<: \*defaults\): it is defaults.tag\.",
    ),
    "a key written beside a merge key is the mapping's own": Case(
        "defaults: &defaults {tag: '1'}\nimage:\n  <<: *defaults\n"
        "  repository: curlimages/curl\n  tag: '1'\n",
        helm("2"),
        "defaults: &defaults {tag: '1'}\nimage:\n  <<: *defaults\n"
        "  repository: curlimages/curl\n  tag: '2'\n",
    ),
    "an unrelated anchor elsewhere in the values": Case(
        'resources: &res {cpu: 1}\nimage:\n  repository: curlimages/curl\n  tag: "1"\n'
        "sidecar: {resources: *res}\n",
        helm("2"),
        'resources: &res {cpu: 1}\nimage:\n  repository: curlimages/curl\n  tag: "2"\n'
        "sidecar: {resources: *res}\n",
    ),
    "a container's image that is an alias": Case(
        pod(
            "  containers:\n  - {name: app, image: &img reg.io/x/app:1}\n"
            "  - {name: copy, image: *img}\n"
        ),
        container("reg.io/x/app:2", "copy"),
        r"refused:container 'copy' \(line 6\): spec.containers\[1\].image is an alias \(\*img\) "
        r"of spec.containers\[0\].image .*\(replace \*img by a copy\)$",
    ),
    "a container's image that an alias uses": Case(
        pod(
            "  containers:\n  - {name: app, image: &img reg.io/x/app:1}\n"
            "  - {name: copy, image: *img}\n"
        ),
        container("reg.io/x/app:2", "app"),
        r"refused:spec.containers\[0\].image is anchored \(&img\) and also used by "
        r"spec.containers\[1\].image",
    ),
    "a container list a merge key brings in": Case(
        "x-pod: &pod\n  containers: [{name: app, image: reg.io/x/app:1}]\n"
        "kind: Pod\nspec:\n  <<: *pod\n",
        container("reg.io/x/app:2", "app"),
        r"refused:spec.containers comes from a merge key \(<<: \*pod\): it is x-pod.containers",
    ),
    "a container entry that is an alias": Case(
        "x-app: &app {name: app, image: reg.io/x/app:1}\nkind: Pod\nspec:\n  containers: [*app]\n",
        container("reg.io/x/app:2", "app"),
        r"refused:spec.containers\[0\] is an alias \(\*app\) of x-app",
    ),
    "a container merging defaults with its own image": Case(
        pod(
            "  containers:\n  - <<: *defaults\n    name: app\n    image: reg.io/x/app:1\n",
            prefix="x-defaults: &defaults {imagePullPolicy: Always}\n",
        ),
        container("reg.io/x/app:2", "app"),
        pod(
            "  containers:\n  - <<: *defaults\n    name: app\n    image: reg.io/x/app:2\n",
            prefix="x-defaults: &defaults {imagePullPolicy: Always}\n",
        ),
    ),
    "labels shared by anchor in the workload": Case(
        "kind: Deployment\nmetadata: {name: app, labels: &labels {app: app}}\nspec:\n"
        "  selector: {matchLabels: *labels}\n  template:\n    metadata: {labels: *labels}\n"
        "    spec:\n      containers:\n      - name: app\n        image: reg.io/x/app:1\n",
        container("reg.io/x/app:2", "app"),
        "kind: Deployment\nmetadata: {name: app, labels: &labels {app: app}}\nspec:\n"
        "  selector: {matchLabels: *labels}\n  template:\n    metadata: {labels: *labels}\n"
        "    spec:\n      containers:\n      - name: app\n        image: reg.io/x/app:2\n",
    ),
    "a kustomize images entry that is an alias": Case(
        "x-app: &app {name: app, newTag: '1'}\nimages:\n- *app\n",
        kustomize("2"),
        r"refused:images\[0\] is an alias \(\*app\) of x-app",
    ),
    "a kustomize newTag a merge key brings in": Case(
        "x-tag: &tag {newTag: '1'}\nimages:\n- <<: *tag\n  name: app\n",
        kustomize("2"),
        r"refused:images\[0\].newTag comes from a merge key \(<<: \*tag\): it is x-tag.newTag",
    ),
    "a kustomize key added to an entry other places alias": Case(
        "images:\n- &app\n  name: app\n  newName: reg.io/x/app\nx-copy: [*app]\n",
        kustomize("2"),
        r"refused:images\[0\] is anchored \(&app\) and also used by x-copy\[0\]",
    ),
    "a kustomize entry beside an unrelated anchor": Case(
        "labels: &l {app: x}\ncommonLabels: *l\nimages:\n- name: app\n  newName: reg.io/x/app\n"
        "  newTag: '1'\n",
        kustomize("2"),
        "labels: &l {app: x}\ncommonLabels: *l\nimages:\n- name: app\n  newName: reg.io/x/app\n"
        "  newTag: '2'\n",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_an_edit_through_an_anchor_alias_or_merge_is_refused_or_changes_only_its_value(
    case: Case,
) -> None:
    if case.expected.startswith("refused:"):
        with pytest.raises(ManifestError, match=case.expected.removeprefix("refused:")):
            case.edit(case.file)
    else:
        assert case.edit(case.file).text == case.expected


def test_a_value_a_merge_key_brings_in_is_read_as_yaml_reads_it() -> None:
    text = "defaults: &d {tag: '1'}\nimage:\n  <<: *d\n  repository: curlimages/curl\n"

    assert helm_image(text, HelmKeys()) == f"{CURL}:1"


def test_an_unchanged_shared_value_is_no_edit_and_no_refusal() -> None:
    keys = HelmKeys(repository="jobA.image.repository", tag="jobA.image.tag")

    edit = set_helm_image(SHARED_CURL, ImageRef(CURL, "8.1"), keys)

    assert not edit.changed and edit.text == SHARED_CURL


def test_the_shared_value_changed_through_its_own_place_reads_back_for_every_alias() -> None:
    own = HelmKeys(repository="images.curl.repository", tag="images.curl.tag")

    edit = set_helm_image(SHARED_CURL, ImageRef(CURL, "8.2"), own)

    for job in ("jobA", "jobB"):
        keys = HelmKeys(repository=f"{job}.image.repository", tag=f"{job}.image.tag")
        assert helm_image(edit.text, keys) == f"{CURL}:8.2"
