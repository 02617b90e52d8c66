import pytest
from pydantic import ValidationError

from services.common.repository_settings import Repository


def repository(**fields: object) -> Repository:
    return Repository(name="acme/shop", url="file:///x", webhook_secret="s" * 20, **fields)


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("registry.acme.dev/shop/api", True),
        ("registry.acme.dev/shop/team/api", True),
        ("registry.acme.dev/shop", True),
        ("registry.acme.dev/shop-evil/api", False),
        ("registry.acme.dev/other-team/base-image", False),
        ("registry.acme.dev.evil.com/shop/api", False),
        ("127.0.0.1:5000/shop/api", True),
        ("127.0.0.1:5001/shop/api", False),
    ],
)
def test_image_registries_allow_only_images_under_their_whole_path_segments(image, allowed):
    repo = repository(image_registries=["registry.acme.dev/shop", "127.0.0.1:5000/shop/"])

    assert repo.allows_image(image) is allowed


def test_without_image_registries_every_image_is_allowed():
    assert repository().allows_image("anywhere.example.com/x/y")


@pytest.mark.parametrize("prefix", ["https://registry.acme.dev", "registry acme", "-x/y", ""])
def test_an_image_registry_that_is_no_host_and_path_is_refused(prefix):
    with pytest.raises(ValidationError):
        repository(image_registries=[prefix])
