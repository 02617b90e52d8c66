"""What the write-back flows keep outside git, as the small interfaces they are handed:
services/common/pins.py's PinStore and runs.py's RunStore are the real ones."""

from __future__ import annotations

from typing import Protocol

from services.common.pins import Pin


class Pins(Protocol):
    """The cache of the pins git holds (the gitops branch's pins file decides): written
    after each pin or unpin commit, and whenever a decision reads a pin the cache lacks."""

    def put(self, pin: Pin) -> None: ...
    def unpin(self, repository: str, service: str, environment: str = "") -> Pin | None: ...


class RunFacts(Protocol):
    def trigger(self, run_id: str) -> str | None:
        """What started the run ("push", "deploy", …): a manual deploy bypasses pins."""
        ...

    def keep_release_notes(self, run_id: str, notes: str) -> None: ...
