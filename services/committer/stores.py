"""What the write-back flows read and keep outside git, as the small interfaces they are
handed: services/common/pins.py's PinStore and runs.py's RunStore are the real ones."""

from __future__ import annotations

from typing import Protocol

from services.common.pins import Pin


class Pins(Protocol):
    def get(self, repository: str, service: str) -> Pin | None: ...
    def pin(self, repository: str, service: str, image: str, by: str, run_id: str) -> Pin: ...


class RunFacts(Protocol):
    def trigger(self, run_id: str) -> str | None:
        """What started the run ("push", "deploy", …): a manual deploy bypasses pins."""
        ...

    def keep_release_notes(self, run_id: str, notes: str) -> None: ...
