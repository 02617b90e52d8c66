"""Secret settings kept in files: `<key>_file: /run/secrets/...` beside or instead of `<key>`.

The server settings are shared by every process (one ConfigMap in Kubernetes), but each
process is given only the secret files it uses (docs/deploy.md "Secrets"). So a file is
read when its value is used, not when the settings load: a process that never uses a
secret starts without its file, and the process that does use it is checked at start
(services/common/stage_secrets.py). Reading on use also picks up a rotated secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr, model_validator

from services.common.errors import ConfigError


class SecretFileUnreadable(ConfigError):
    """A secret's file is missing or unreadable where its value is needed."""


class FileSecret(SecretStr):
    """A secret whose value is the content of a file (a trailing newline dropped)."""

    def __init__(self, path: Path | str, key: str) -> None:
        super().__init__("")
        self.path = Path(path)
        self.key = key  # the settings key that named the file, e.g. "webhook_secret_file"

    def get_secret_value(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SecretFileUnreadable(f"{self.key}: cannot read {self.path}: {reason}") from None

    def readable(self) -> bool:
        try:
            self.get_secret_value()
        except SecretFileUnreadable:
            return False
        return True

    def _display(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileSecret) and (self.path, self.key) == (other.path, other.key)

    def __hash__(self) -> int:
        return hash((self.path, self.key))

    def __len__(self) -> int:
        return len(self._display())


def known_value(secret: SecretStr) -> str | None:
    """The secret's value, or None when it lives in a file this process cannot read."""
    if isinstance(secret, FileSecret) and not secret.readable():
        return None
    return secret.get_secret_value()


class SecretFiles(BaseModel):
    """A settings section whose `secret_keys` may each be given as `<key>_file` (a path)."""

    secret_keys: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(f"{k}_file" in data for k in cls.secret_keys):
            return data
        data = dict(data)
        for key in cls.secret_keys:
            path = data.pop(f"{key}_file", None)
            if path is None:
                continue
            if data.get(key) is not None:
                raise ValueError(f"give {key} or {key}_file, not both")
            if not str(path).startswith("/"):
                raise ValueError(f"{key}_file must be an absolute path")
            data[key] = FileSecret(path, f"{key}_file")
        return data
