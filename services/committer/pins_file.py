"""The pins file: the services held on the image a rollback put them on, kept in the gitops
branch itself (`.shipline-gitops/pins.yaml`), so a pin survives whatever Redis loses.

One file per gitops branch, keyed by source repository and service (several repositories
may share a gitops branch). A rollback adds its entry in the commit that changes the
manifest; an unpin removes it in a commit of its own; a person may edit it by hand. It lives
in a dot directory and is no Kubernetes object (no `apiVersion`, no `kind`): Argo CD's
repo-server skips hidden directories when it reads a directory application, and a kustomize
or Helm application renders only what its own files name. Pure: text in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.errors import PermanentError
from services.common.pins import Pin

PINS_FILE = ".shipline-gitops/pins.yaml"
HEADER = """\
# Pins: services Shipline holds on the image a rollback put them on (docs/writeback.md).
# While a service is listed here, its automatic deploys are held. `shipline unpin SERVICE`
# removes its entry in a commit; deleting the entry by hand does the same.
# Not a Kubernetes manifest: Argo CD does not read dot directories.
"""


class PinsFileError(PermanentError):
    """The pins file cannot be read: no automatic deploy on its branch until it is fixed."""


class PinEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str = Field(min_length=1)
    by: str = ""
    run_id: str = ""
    since: datetime | None = None


class PinsDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    pins: dict[str, dict[str, PinEntry]] = {}


Pins = dict[tuple[str, str], Pin]  # (source repository, service) -> its pin


def parse_pins(text: str | None, where: str = PINS_FILE) -> Pins:
    """Every pin the file holds; an absent or empty file holds none. PinsFileError says
    what is wrong with a file that cannot be read, so a pin is never silently ignored."""
    if text is None or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PinsFileError(f"{where} is not YAML: {_first_line(exc)}") from None
    if data is None:
        return {}
    try:
        document = PinsDocument.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise PinsFileError(f"{where} cannot be read: {problems}") from None
    return {
        (repository, service): Pin(
            repository=repository,
            service=service,
            image=entry.image,
            by=entry.by,
            run_id=entry.run_id,
            since=_unix(entry.since),
        )
        for repository, services in document.pins.items()
        for service, entry in services.items()
    }


def render_pins(pins: Iterable[Pin]) -> str:
    """The whole file, sorted by repository and service (a hand edit's comments go)."""
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for pin in sorted(pins, key=lambda p: (p.repository, p.service)):
        entry = {"image": pin.image, "by": pin.by, "run_id": pin.run_id}
        if pin.since:
            entry["since"] = _iso(pin.since)
        nested.setdefault(pin.repository, {})[pin.service] = entry
    body = yaml.safe_dump(
        {"version": 1, "pins": nested}, sort_keys=False, default_flow_style=False, width=1000
    )
    return HEADER + body


def with_pin(text: str | None, pin: Pin, where: str = PINS_FILE) -> str:
    """The file with `pin` added, or replacing the service's earlier pin."""
    pins = parse_pins(text, where)
    pins[(pin.repository, pin.service)] = pin
    return render_pins(pins.values())


def without_pin(
    text: str | None, repository: str, service: str, where: str = PINS_FILE
) -> tuple[str, Pin | None]:
    """The file without the service's pin, and the pin removed (None: it held none)."""
    pins = parse_pins(text, where)
    removed = pins.pop((repository, service), None)
    return render_pins(pins.values()), removed


def same_pin(a: Pin | None, b: Pin | None) -> bool:
    """Whether two pins hold the same image for the same reason (`since` aside)."""
    if a is None or b is None:
        return a is b
    return (a.repository, a.service, a.image, a.by, a.run_id) == (
        b.repository,
        b.service,
        b.image,
        b.by,
        b.run_id,
    )


def _unix(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _iso(since: float) -> str:
    return datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
