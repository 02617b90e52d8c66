"""The pins file: the services held on the image a rollback put them on, kept in the gitops
branch itself (`.shipline-gitops/pins.yaml`), so a pin survives whatever Redis loses.

One file per gitops branch, keyed by source repository and service (several repositories
may share a gitops branch). `pins:` holds the first environment's pins (all of them without
`environments:` in shipline.yaml, so a file written before environments means what it meant);
`environments: {<environment>: {<repository>: {<service>: ...}}}` a later environment's,
written there only when a rollback named that environment. A rollback adds its entry in
the commit that changes the manifest; an unpin removes it in a commit of its own; a person
may edit it by hand. It lives in a dot directory and is no Kubernetes object (no
`apiVersion`, no `kind`): Argo CD's repo-server skips hidden directories when it reads a
directory application, and a kustomize or Helm application renders only what its own files
name. Pure: text in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.environments import EnvironmentName
from services.common.errors import PermanentError
from services.common.pins import FIRST_ENVIRONMENT, Pin

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
    environments: dict[EnvironmentName, dict[str, dict[str, PinEntry]]] = {}


Pins = dict[tuple[str, str], Pin]  # (source repository, service) -> its pin


def parse_pins(
    text: str | None, where: str = PINS_FILE, environment: str = FIRST_ENVIRONMENT
) -> Pins:
    """The pins the file holds in `environment` (by default the first environment's);
    an absent or empty file holds none. PinsFileError says what is wrong with a file that
    cannot be read, so a pin is never silently ignored."""
    return {
        (pin.repository, pin.service): pin
        for pin in all_pins(text, where)
        if pin.environment == environment
    }


def all_pins(text: str | None, where: str = PINS_FILE) -> list[Pin]:
    """Every pin the file holds, in every environment (PinsFileError as parse_pins)."""
    if text is None or not text.strip():
        return []
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PinsFileError(f"{where} is not YAML: {_first_line(exc)}") from None
    if data is None:
        return []
    try:
        document = PinsDocument.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise PinsFileError(f"{where} cannot be read: {problems}") from None
    sections = [(FIRST_ENVIRONMENT, document.pins), *document.environments.items()]
    return [
        Pin(
            repository=repository,
            service=service,
            image=entry.image,
            by=entry.by,
            run_id=entry.run_id,
            since=_unix(entry.since),
            environment=environment,
        )
        for environment, section in sections
        for repository, services in section.items()
        for service, entry in services.items()
    ]


def render_pins(pins: Iterable[Pin]) -> str:
    """The whole file, sorted by environment, repository and service (a hand edit's
    comments go); `environments:` only when a later environment holds a pin."""
    first: dict[str, dict[str, dict[str, str]]] = {}
    later: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for pin in sorted(pins, key=lambda p: (p.environment, p.repository, p.service)):
        entry = {"image": pin.image, "by": pin.by, "run_id": pin.run_id}
        if pin.since:
            entry["since"] = _iso(pin.since)
        section = later.setdefault(pin.environment, {}) if pin.environment else first
        section.setdefault(pin.repository, {})[pin.service] = entry
    document: dict[str, object] = {"version": 1, "pins": first}
    if later:
        document["environments"] = later
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)
    return HEADER + body


def with_pin(text: str | None, pin: Pin, where: str = PINS_FILE) -> str:
    """The file with `pin` added, or replacing the service's earlier pin in its environment."""
    pins = {_key(held): held for held in all_pins(text, where)}
    pins[_key(pin)] = pin
    return render_pins(pins.values())


def without_pin(
    text: str | None,
    repository: str,
    service: str,
    where: str = PINS_FILE,
    environment: str = FIRST_ENVIRONMENT,
) -> tuple[str, Pin | None]:
    """The file without the service's pin in `environment`, and the pin removed (None: it
    held none there); its pins in other environments stay."""
    pins = {_key(held): held for held in all_pins(text, where)}
    removed = pins.pop((environment, repository, service), None)
    return render_pins(pins.values()), removed


def _key(pin: Pin) -> tuple[str, str, str]:
    return (pin.environment, pin.repository, pin.service)


def same_pin(a: Pin | None, b: Pin | None) -> bool:
    """Whether two pins hold the same image for the same reason (`since` aside)."""
    if a is None or b is None:
        return a is b
    return (a.environment, a.repository, a.service, a.image, a.by, a.run_id) == (
        b.environment,
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
