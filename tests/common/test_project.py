import pytest

from services.common.errors import ConfigError
from services.common.project import Project, parse_project
from services.demo.microbank import SERVICES, write_microbank

REGISTRY = "127.0.0.1:5000/microbank"
BACKENDS = ["account-service", "notification-service", "transaction-service", "user-service"]


@pytest.fixture
def microbank(tmp_path) -> Project:
    write_microbank(tmp_path, REGISTRY, "shipline/busybox:1")
    return parse_project((tmp_path / "shipline.yaml").read_text())


def one_service(**spec: object) -> str:
    """A shipline.yaml with one service `api` holding the given keys (path: api/ by default)."""
    lines = ["registry: registry.example.com/acme", "services:", "  api:"]
    lines += [f"    {key}: {value}" for key, value in {"path": "api/", **spec}.items()]
    return "\n".join(lines) + "\n"


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_project(text)
    return str(caught.value)


def test_the_microbank_sample_parses_with_all_five_services(microbank):
    assert sorted(microbank.services) == sorted(SERVICES)
    assert microbank.registry == REGISTRY
    assert microbank.gitops.branch == "main"


def test_the_microbank_services_build_from_their_own_directory(microbank):
    spec = microbank.services["user-service"]

    assert spec.build_context() == "user_service"
    assert spec.dockerfile_in_context() == "Dockerfile"
    assert microbank.image_repository("user-service") == f"{REGISTRY}/user-service"
    assert microbank.manifest_path("user-service") == "k8s/manifests/user-service/deployment.yaml"


def test_the_microbank_backends_depend_on_the_common_lib_and_the_frontend_does_not(microbank):
    dependents = sorted(
        name
        for name, spec in microbank.services.items()
        if spec.watches("libs/common/banking.sh") == "dependency"
    )

    assert dependents == BACKENDS
    assert microbank.services["frontend"].watches("libs/common/banking.sh") is None


def test_a_service_with_only_a_path_builds_its_directory_with_its_dockerfile():
    project = parse_project(one_service(path="services/api"))
    spec = project.services["api"]

    assert spec.build_context() == "services/api"
    assert spec.dockerfile_in_context() == "Dockerfile"
    assert project.manifest_path("api") == "k8s/manifests/api/deployment.yaml"


def test_a_dockerfile_inside_a_wider_context_is_given_relative_to_that_context():
    spec = parse_project(one_service(context=".", dockerfile="api/Dockerfile.prod")).services["api"]

    assert spec.build_context() == "."
    assert spec.dockerfile_in_context() == "api/Dockerfile.prod"


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ("user_service/app.txt", "paths"),
        ("user_service/nested/deep/file.sh", "paths"),
        ("libs/common/banking.sh", "dependency"),
        ("user_service2/app.txt", None),
        ("user_service.txt", None),
        ("libs/common2/x.sh", None),
        ("libs/commonplace.sh", None),
        ("account_service/app.txt", None),
        ("README.md", None),
    ],
)
def test_watches_matches_whole_directories_only(microbank, changed, expected):
    assert microbank.services["user-service"].watches(changed) == expected


def test_a_change_to_its_own_path_wins_over_a_dependency():
    spec = parse_project(one_service(depends_on="[api/vendored/]")).services["api"]

    assert spec.watches("api/vendored/lib.sh") == "paths"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("path", "../outside"),
        ("path", "api/../../etc"),
        ("path", "/etc/passwd"),
        ("path", "'api;rm -rf /'"),
        ("path", "'api$(id)'"),
        ("path", "'api dir'"),
        ("path", "'api\\\\win'"),
        ("context", "../"),
        ("dockerfile", "/Dockerfile"),
        ("manifest", "k8s/../../secrets.yaml"),
        ("manifest", "'k8s/`whoami`.yaml'"),
    ],
)
def test_unsafe_paths_are_rejected_naming_the_file_and_the_key(key, value):
    message = config_error(one_service(**{key: value}))

    assert message.startswith("shipline.yaml: ")
    assert f"services.api.{key}" in message


def test_an_unsafe_dependency_path_is_rejected_naming_its_index():
    message = config_error(one_service(depends_on="[libs/common/, ../../other-repo/]"))

    assert "shipline.yaml" in message
    assert "services.api.depends_on.1" in message
    assert "'..'" in message


@pytest.mark.parametrize("name", ["User-Service", "user_service", "-api", "api;rm", "../api"])
def test_bad_service_names_are_rejected_naming_the_file_and_the_name(name):
    text = f"registry: registry.example.com/acme\nservices:\n  '{name}':\n    path: api/\n"

    message = config_error(text)

    assert "shipline.yaml" in message
    assert f"services.{name}" in message


def test_a_dockerfile_outside_the_context_is_rejected():
    message = config_error(one_service(context="api/", dockerfile="shared/Dockerfile"))

    assert "shipline.yaml" in message
    assert "services.api" in message
    assert "dockerfile shared/Dockerfile lies outside the context api/" in message


def test_a_dockerfile_in_a_sibling_directory_with_a_common_prefix_is_outside_the_context():
    message = config_error(one_service(path="api", context="api", dockerfile="api2/Dockerfile"))

    assert "lies outside the context" in message


def test_a_dockerfile_whose_name_starts_with_two_dots_is_inside_its_context():
    spec = parse_project(one_service(dockerfile="api/..Dockerfile")).services["api"]

    assert spec.dockerfile_in_context() == "..Dockerfile"


def test_an_invalid_registry_is_rejected_naming_the_key():
    text = one_service().replace("registry.example.com/acme", "Registry.Example.com/Acme")

    assert "shipline.yaml: registry:" in config_error(text)


def test_an_unknown_key_is_rejected_naming_it():
    assert "services.api.dockerfle" in config_error(one_service(dockerfle="api/Dockerfile"))


def test_a_yaml_syntax_error_names_the_file():
    message = config_error("registry: [unclosed\n")

    assert message.startswith("shipline.yaml: not valid YAML")


def test_a_document_that_is_not_a_mapping_is_rejected():
    assert "expected a mapping" in config_error("- api\n- web\n")


def test_errors_name_the_origin_the_caller_gives():
    with pytest.raises(ConfigError, match=r"^acme/microbank@6113728:shipline.yaml: "):
        parse_project("registry: [", origin="acme/microbank@6113728:shipline.yaml")


def test_build_args_and_target_are_read_with_scalars_as_docker_build_takes_them():
    text = one_service(
        build_args='{PYTHON_VERSION: "3.11", WORKERS: 4, DEBUG: false}', target="runtime"
    )

    spec = parse_project(text).services["api"]

    assert spec.build_args == {"PYTHON_VERSION": "3.11", "WORKERS": "4", "DEBUG": "false"}
    assert spec.target == "runtime"


def test_a_service_without_build_args_or_target_builds_the_last_stage_plainly():
    spec = parse_project(one_service()).services["api"]

    assert spec.build_args == {}
    assert spec.target is None


@pytest.mark.parametrize(
    "spec",
    [{"build_args": '{"NOT VALID": x}'}, {"build_args": "[A, B]"}, {"target": '"-runtime"'}],
)
def test_odd_build_arg_names_and_targets_are_rejected_naming_the_key(spec):
    key = next(iter(spec))

    assert f"services.api.{key}" in config_error(one_service(**spec))


def test_run_steps_get_no_network_unless_the_service_opts_in():
    assert parse_project(one_service()).services["api"].network is False
    assert parse_project(one_service(network="true")).services["api"].network is True


@pytest.mark.parametrize("value", ["host", "bridge", "'none'", "[default]"])
def test_a_network_that_is_not_true_or_false_is_rejected_naming_the_key(value):
    assert "services.api.network" in config_error(one_service(network=value))
