import pytest

from services.committer.images import ImageRef
from services.committer.yamlsplice import ManifestError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("reg:5000/bank/api:v1", ImageRef("reg:5000/bank/api", "v1")),
        ("reg:5000/bank/api", None),
        (f"reg:5000/bank/api@{DIGEST}", ImageRef("reg:5000/bank/api", None, DIGEST, True)),
        (f"api:v1@{DIGEST}", ImageRef("api", "v1", DIGEST, True)),
    ],
)
def test_references_parse_with_a_registry_port_and_back(reference, parsed) -> None:
    if parsed is None:
        with pytest.raises(ManifestError, match="neither a tag nor a digest"):
            ImageRef.parse(reference)
        return
    assert ImageRef.parse(reference) == parsed
    assert str(parsed) == reference


def test_a_known_digest_is_written_only_when_pinned() -> None:
    assert str(ImageRef("api", "v1", DIGEST)) == "api:v1"
    assert str(ImageRef("api", "v1", DIGEST, pinned=True)) == f"api:v1@{DIGEST}"


def test_pinning_without_a_digest_is_refused() -> None:
    with pytest.raises(ManifestError, match="digest is unknown"):
        ImageRef("api", "v1", pinned=True)
