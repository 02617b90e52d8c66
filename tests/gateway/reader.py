"""The token in-process gateway tests read with: reads need one unless public_read is set;
and the gateway's settings for acme/shop, whose remote it never fetches."""

from pathlib import Path
from typing import Any

from services.common.settings import Repository, Settings

READ_TOKEN = "gateway-tests-reader-0123456789"
READER = {"Authorization": f"Bearer {READ_TOKEN}"}


def shop_settings(redis_url: str, workdir: Path, **changes: Any) -> Settings:
    """The gateway's settings with acme/shop configured; `changes` set the rest."""
    shop = Repository(name="acme/shop", url="file:///nowhere", webhook_secret="x" * 20)
    return Settings(redis_url=redis_url, workdir=workdir, repositories=[shop], **changes)
