"""shipline.yaml's `environments:`: the rules, each with its message, and where each
environment's manifest is."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from services.common.environments import Environment
from services.common.errors import ConfigError
from services.common.project import Project, parse_project, read_project

ENVIRONMENTS = """\
registry: registry.example.com/acme
environments:
  - name: staging
  - name: production
    from: staging
    approval: pull-request
    releases: true
services:
  api:
    path: api/
    manifest: k8s/overlays/{environment}/api.yaml
  web:
    path: web/
    environments:
      production: {manifest: prod/web.yaml}
"""


def problems(text: str) -> list[tuple[str, str]]:
    found = read_project(text)
    assert not isinstance(found, Project), "expected the file to be refused"
    return found


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_project(text)
    return str(caught.value)


def test_without_environments_a_service_has_its_one_manifest_as_before() -> None:
    project = parse_project("registry: r.example.com/a\nservices:\n  api: {path: api/}\n")

    assert project.environments == ()
    assert project.first_environment is None
    assert project.manifest_path("api") == "k8s/manifests/api/deployment.yaml"
    assert project.manifest_paths("api") == ("k8s/manifests/api/deployment.yaml",)
    assert project.gitops_for(None) == project.gitops


def test_a_push_lands_in_the_first_environment_and_each_environment_has_its_manifest() -> None:
    project = parse_project(ENVIRONMENTS)

    assert project.first_environment is not None
    assert project.first_environment.name == "staging"
    assert project.manifest_path("api") == "k8s/overlays/staging/api.yaml"
    assert project.manifest_path("api", "production") == "k8s/overlays/production/api.yaml"
    assert project.manifest_paths("api") == (
        "k8s/overlays/staging/api.yaml",
        "k8s/overlays/production/api.yaml",
    )


def test_an_override_replaces_the_services_manifest_in_its_environment_only() -> None:
    project = parse_project(ENVIRONMENTS)

    assert project.manifest_path("web", "staging") == "k8s/manifests/web/deployment.yaml"
    assert project.manifest_path("web", "production") == "prod/web.yaml"


def test_an_environment_may_have_a_scan_block_like_a_services() -> None:
    text = ENVIRONMENTS.replace(
        "    releases: true\n",
        "    releases: true\n    scan: {allow_secrets: false, block_severities: [HIGH, CRITICAL]}"
        "\n",
    )

    production = parse_project(text).environment("production")

    assert production.scan is not None and production.scan.allow_secrets is False
    assert production.scan.block_severities == ("HIGH", "CRITICAL")
    assert parse_project(ENVIRONMENTS).environment("production").scan is None


def test_an_environments_settings_default_as_documented() -> None:
    project = parse_project(ENVIRONMENTS)
    staging, production = project.environments

    assert (staging.source, staging.approval, staging.releases) == (None, "manual", False)
    assert (staging.soak_seconds, staging.write_mode, staging.cluster) == (0, "commit", None)
    assert production.source == "staging"
    assert production.write_mode == "pull-request"  # approval: pull-request implies it
    assert project.environment("production") is production


def test_an_environment_with_its_own_gitops_branch_writes_there_and_inherits_the_rest() -> None:
    text = ENVIRONMENTS.replace(
        "    releases: true\n", "    releases: true\n    gitops: {branch: production}\n"
    )
    project = parse_project("gitops: {repository: acme/deploy, branch: main}\n" + text)

    assert project.gitops_for("staging").branch == "main"
    assert project.gitops_for("production").branch == "production"
    assert project.gitops_for("production").repository == "acme/deploy"


def test_only_the_manifests_committed_where_the_first_environments_are_count_as_here() -> None:
    text = ENVIRONMENTS.replace(
        "    releases: true\n",
        "    releases: true\n  - {name: eu, from: production, gitops: {branch: eu}}\n"
        "  - {name: us, from: production, gitops: {repository: acme/us}}\n",
    )
    project = parse_project(text)

    assert project.manifest_paths("api", "branch") == (
        "k8s/overlays/staging/api.yaml",
        "k8s/overlays/production/api.yaml",
    )
    assert project.manifest_paths("api", "repository")[-1] == "k8s/overlays/eu/api.yaml"
    assert project.manifest_paths("api")[-1] == "k8s/overlays/us/api.yaml"
    assert project.manifest_paths("web", "branch") == (
        "k8s/manifests/web/deployment.yaml",
        "prod/web.yaml",
    )  # eu and us share web's default path, on their own branch and repository


def test_asking_for_an_environment_shipline_yaml_does_not_have_is_a_config_error() -> None:
    project = parse_project(ENVIRONMENTS)

    with pytest.raises(ConfigError, match="no environment 'prod' \\(there are: staging, produ"):
        project.manifest_path("api", "prod")
    with pytest.raises(ConfigError, match="no environment 'staging' \\(there are: none\\)"):
        parse_project("registry: r.example.com/a\nservices:\n  api: {path: api/}\n").manifest_path(
            "api", "staging"
        )


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        (
            "name: production",
            "name: staging",
            "environments.1.name",
            "'staging' is already the name of an environment",
        ),
        (
            "  - name: staging\n",
            "  - {name: staging, from: production}\n",
            "environments.0.from",
            "the first environment is where pushes land and is promoted from nowhere; remove from:",
        ),
        (
            "  - name: staging\n",
            "  - {name: staging, gitops: {branch: staging}}\n",
            "environments.0.gitops",
            "the first environment's manifests are where the top-level gitops: says; set "
            "repository and branch there",
        ),
        (
            "    from: staging\n",
            "",
            "environments.1.from",
            "missing; say which earlier environment it is promoted from",
        ),
        (
            "from: staging",
            "from: stagin",
            "environments.1.from",
            "'stagin' is not an earlier environment; did you mean 'staging'?",
        ),
        (
            "from: staging",
            "from: production",
            "environments.1.from",
            "'production' does not come before it: environments are promoted in the order "
            "listed; name an earlier one, or move this one after it",
        ),
        (
            "    releases: true\n",
            "    releases: true\n  - {name: qa, from: dev}\n  - {name: dev, from: staging}\n",
            "environments.2.from",
            "'dev' does not come before it: environments are promoted in the order listed; "
            "name an earlier one, or move this one after it",
        ),
        (
            "  - name: staging\n",
            "  - {name: staging, releases: true}\n",
            "environments.1.releases",
            "'staging' already takes release tags; keep releases: true on one environment",
        ),
        (
            "approval: pull-request",
            "approval: pull-request\n    write: commit",
            "environments.1.write",
            "approval: pull-request merges a pull request, so it cannot write: commit; "
            "remove write: or set it to pull-request",
        ),
        (
            "      production: {manifest",
            "      prod: {manifest",
            "services.web.environments.prod",
            "'prod' is not an environment (there are: 'staging', 'production')",
        ),
        (
            "      production: {manifest",
            "      producton: {manifest",
            "services.web.environments.producton",
            "'producton' is not an environment; did you mean 'production'?",
        ),
        (
            "{environment}/api.yaml",
            "api.yaml",
            "services.api.manifest",
            "staging and production would both write 'k8s/overlays/api.yaml'; put "
            "{environment} in the path, set environments.production.manifest, or give the "
            "environments their own gitops branch",
        ),
        (
            "    from: staging\n",
            "    fro: staging\n",
            "environments.1.fro",
            "Extra inputs are not permitted; did you mean 'from'?",
        ),
        (
            "approval: pull-request",
            "approval: by-hand",
            "environments.1.approval",
            "Input should be 'manual', 'auto' or 'pull-request'",
        ),
        (
            "releases: true",
            "soak_seconds: -1",
            "environments.1.soak_seconds",
            "Input should be greater than or equal to 0",
        ),
        (
            "  - name: staging\n",
            "  - name: staging\n    scan: {allow_secrets: false}\n",
            "environments.0.scan",
            "pushes land in the first environment under each service's scan policy; put "
            "these rules in the top-level or the service's scan:",
        ),
        (
            "releases: true",
            "scan: {allow_secret: true}",
            "environments.1.scan.allow_secret",
            "Extra inputs are not permitted; did you mean 'allow_secrets'?",
        ),
    ],
)
def test_each_environment_rule_is_one_problem_at_the_key_to_fix(
    old: str, new: str, key: str, message: str
) -> None:
    assert old in ENVIRONMENTS
    text = ENVIRONMENTS.replace(old, new)

    assert problems(text) == [(key, message)]
    assert config_error(text) == f"shipline.yaml: {key}: {message}"


@pytest.mark.parametrize(
    "name",
    [
        "Production",
        "prod_1",
        "-prod",
        "prod-",
        "../prod",
        "prod/x",
        "p" * 64,
        "'..'",
        "'prod$(id)'",
        "'prod;rm -rf ~'",
        '"prod\\n"',
        "прод",
        "''",
    ],
)
def test_an_environment_name_that_is_not_a_dns_label_is_refused(name: str) -> None:
    text = ENVIRONMENTS.replace("name: production", f"name: {name}")

    [(key, message)] = problems(text)

    assert key == "environments.1.name"
    assert "(a DNS label)" in message


def test_environment_in_a_manifest_path_without_environments_is_refused() -> None:
    text = "registry: r.example.com/a\nservices:\n  api:\n    path: api/\n"
    text += "    manifest: k8s/{environment}/api.yaml\n"

    assert problems(text) == [
        (
            "services.api.manifest",
            "{environment} needs an environments: section; add one, or write the path without it",
        )
    ]


def test_an_override_without_environments_is_refused() -> None:
    text = "registry: r.example.com/a\nservices:\n  api:\n    path: api/\n"
    text += "    environments: {staging: {manifest: k8s/api.yaml}}\n"

    assert problems(text) == [
        ("services.api.environments", "there is no environments: section; add one, or remove this")
    ]


OVERRIDE = "production: {manifest: prod/web.yaml}"
TEMPLATE = "k8s/overlays/{environment}/api.yaml"
WEB_OVERRIDE = "services.web.environments.production.manifest"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (OVERRIDE, "production: {manifest: ../web.yaml}", WEB_OVERRIDE),
        (OVERRIDE, "production: {manifest: /etc/web.yaml}", WEB_OVERRIDE),
        (OVERRIDE, "'../x': {manifest: prod/web.yaml}", "services.web.environments.../x.[key]"),
        (TEMPLATE, "k8s/{environment}/../../api.yaml", "services.api.manifest"),
        (TEMPLATE, "'/{environment}/api.yaml'", "services.api.manifest"),
        (TEMPLATE, "'k8s/{env}/api.yaml'", "services.api.manifest"),
        (TEMPLATE, "'k8s/{environment}}/api.yaml'", "services.api.manifest"),
    ],
)
def test_a_traversal_through_an_environment_or_an_override_is_refused(
    old: str, new: str, key: str
) -> None:
    [(found, message)] = problems(ENVIRONMENTS.replace(old, new))

    assert found == key
    assert message.startswith("Value error, ")


def test_a_resolved_path_is_checked_again_even_if_a_name_slipped_past_its_own_check() -> None:
    data = yaml.safe_load(ENVIRONMENTS)
    data["environments"][1] = Environment.model_construct(name="..", source="staging")

    with pytest.raises(ValidationError) as caught:
        Project.model_validate(data)

    assert "services.api.manifest: 'k8s/overlays/../api.yaml' (for ..) must not contain '..'" in (
        str(caught.value)
    )
