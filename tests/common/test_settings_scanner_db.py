"""scanner.db_repository / scanner.java_db_repository: the mirrors of Trivy's databases."""

import pytest

from services.common.errors import ConfigError
from services.common.settings import load_settings

pytestmark = pytest.mark.usefixtures("no_shipline_environment")


def test_without_a_mirror_trivy_keeps_its_own_sources():
    settings = load_settings()

    assert settings.scanner.db_repository == []
    assert settings.scanner.java_db_repository == []


def test_one_mirror_in_the_environment_is_taken_as_a_plain_reference(monkeypatch):
    monkeypatch.setenv("SHIPLINE_SCANNER__DB_REPOSITORY", "mirror.example.com/aquasec/trivy-db:2")
    monkeypatch.setenv(
        "SHIPLINE_SCANNER__JAVA_DB_REPOSITORY",
        '["registry.lan:5000/trivy-java-db:1", "ghcr.io/aquasecurity/trivy-java-db:1"]',
    )

    settings = load_settings()

    assert settings.scanner.db_repository == ["mirror.example.com/aquasec/trivy-db:2"]
    assert settings.scanner.java_db_repository == [
        "registry.lan:5000/trivy-java-db:1",
        "ghcr.io/aquasecurity/trivy-java-db:1",
    ]


def test_comma_separated_mirrors_are_tried_in_the_order_given(tmp_path, monkeypatch):
    config = tmp_path / "shipline-server.yaml"
    config.write_text(
        "scanner:\n  db_repository: registry:5000/trivy-db:2, ghcr.io/aquasecurity/trivy-db:2\n"
    )
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))

    settings = load_settings()

    assert settings.scanner.db_repository == [
        "registry:5000/trivy-db:2",
        "ghcr.io/aquasecurity/trivy-db:2",
    ]


@pytest.mark.parametrize(
    "reference",
    [
        "trivy-db:2",
        "aquasec/trivy-db:2",
        "https://mirror.example.com/trivy-db:2",
        "mirror.example.com/Trivy DB:2",
    ],
)
def test_a_mirror_that_is_no_repository_reference_is_refused_naming_the_key_and_the_form(
    monkeypatch, reference
):
    monkeypatch.setenv("SHIPLINE_SCANNER__DB_REPOSITORY", reference)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert "scanner.db_repository" in message
    assert f"{reference!r} is not an OCI repository reference" in message
    assert "host[:port]/path[:tag]" in message
