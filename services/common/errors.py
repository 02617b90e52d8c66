"""The error vocabulary every stage and adapter speaks.

Adapters translate their SDK's exceptions into one of these at the edge, so stage code
and the task runner never need to know which library failed.
"""


class ShiplineError(Exception):
    """Base class of every error Shipline raises on purpose."""


class TransientError(ShiplineError):
    """Worth retrying: network blips, registry 5xx, git push races, timeouts."""


class PermanentError(ShiplineError):
    """Retrying cannot help: bad Dockerfile, invalid config, a missing commit."""


class ConfigError(PermanentError):
    """A configuration file or setting is invalid; the message names file and key."""


class EventDecodeError(ShiplineError):
    """An event on the wire or from a user is not a valid Shipline event."""
