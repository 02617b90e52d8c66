"""Opening Redis from `redis_url`: the one place that knows every form the setting takes.

- ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``: plain TCP.
- ``rediss://[[USER]:PASSWORD@]HOST[:PORT][/DB][?ssl_ca_certs=/path/ca.pem]``: TLS; the
  server's certificate is verified (against the system's CAs unless ``ssl_ca_certs`` names
  others); redis-py's other ``ssl_*`` parameters are taken too.
- ``unix://[[USER]:PASSWORD@]/path/redis.sock[?db=N]``: a unix socket.
- ``sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...][/DB]?master=NAME``
  ``[&sentinel_password=SECRET][&sentinel_username=USER]``: whichever server the Sentinels
  name master of NAME, asked again whenever a connection to it fails (after a failover, the
  promoted replica). PASSWORD is the master's and its replicas' (``requirepass``,
  ``masterauth``); ``sentinel_password`` is the Sentinels' own (their ``requirepass``).

:func:`connect` and :func:`connect_async` give redis-py clients of every form;
:func:`celery_broker` gives the same server spelt for kombu, with the transport and TLS
options Celery needs for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
from redis.connection import parse_url
from redis.sentinel import Sentinel

SENTINEL_PORT = 26379
URL_FORMS = (
    "redis://:PASSWORD@host:6379/0, rediss://:PASSWORD@host:6380/0 (TLS), "
    "unix://:PASSWORD@/path/to/redis.sock?db=0 or "
    "sentinel://:PASSWORD@host1:26379,host2:26379/0?master=NAME&sentinel_password=SECRET"
)
_SENTINEL_QUERY = ("master", "sentinel_password", "sentinel_username")


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RedisTarget:
    """What a `redis_url` names (its passwords kept out of repr)."""

    kind: Literal["tcp", "tls", "unix", "sentinel"]
    options: dict[str, Any] = field(default_factory=dict, repr=False)  # redis-py's parse_url
    sentinel: SentinelTarget | None = None

    @property
    def password(self) -> str | None:
        """The data server's password (the master's, behind Sentinel)."""
        if self.sentinel is not None:
            return self.sentinel.password
        password = self.options.get("password")
        return str(password) if password else None


@dataclass(frozen=True)
class CeleryBroker:
    """The broker URL for kombu and what Celery's configuration must add to it."""

    url: str = field(repr=False)
    transport_options: dict[str, Any] = field(default_factory=dict, repr=False)
    use_ssl: dict[str, Any] | None = None


def parse_redis_url(url: str) -> RedisTarget:
    """Raises ValueError saying what is wrong (never echoing the URL: it holds a password)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "sentinel":
        return RedisTarget("sentinel", sentinel=_parse_sentinel(url))
    try:
        options = parse_url(url)
    except ValueError:
        raise ValueError(f"must be a Redis URL: {URL_FORMS}") from None
    if scheme == "rediss":
        return RedisTarget("tls", options)
    return RedisTarget("unix" if scheme == "unix" else "tcp", options)


def _parse_sentinel(url: str) -> SentinelTarget:
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - set(_SENTINEL_QUERY))
    if unknown:
        raise ValueError(
            f"sentinel:// takes only {', '.join(_SENTINEL_QUERY)} in its query, not "
            f"{', '.join(unknown)} (TLS to Sentinel is not supported)"
        )
    if not query.get("master"):
        raise ValueError("a sentinel:// URL names its master: ?master=NAME (Sentinel's name)")
    sentinels = tuple(_host_port(host) for host in hosts.split(",") if host)
    if not sentinels:
        raise ValueError("a sentinel:// URL lists its Sentinels: host1:26379,host2:26379")
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise ValueError("the database of a sentinel:// URL is a number: /0")
    return SentinelTarget(
        sentinels,
        query["master"],
        int(db),
        unquote(username) or None,
        unquote(password) or None,
        query.get("sentinel_username") or None,
        query.get("sentinel_password") or None,
    )


def _host_port(text: str) -> tuple[str, int]:
    try:
        address = urlsplit(f"//{text}")
        port = address.port or SENTINEL_PORT
    except ValueError:
        raise ValueError("a Sentinel's address is host:port (port a number)") from None
    if not address.hostname:
        raise ValueError("a Sentinel's address is host:port")
    return address.hostname, port


# --- clients -------------------------------------------------------------------------------


def connect(url: str, **options: Any) -> redis.Redis:
    """A client of the server `url` names; `options` are redis.Redis's (timeouts, retry…)."""
    target = parse_redis_url(url)
    if target.sentinel is None:
        return redis.Redis.from_url(url, **options)
    sentinel = target.sentinel
    manager = Sentinel(
        list(sentinel.sentinels),
        sentinel_kwargs=_sentinel_kwargs(sentinel, options),
        **_master_credentials(sentinel),
    )
    return manager.master_for(sentinel.master, _SentinelMaster, **options)


def connect_async(url: str, **options: Any) -> redis.asyncio.Redis:
    """As :func:`connect`, for asyncio (bound to the event loop it is first used on)."""
    target = parse_redis_url(url)
    if target.sentinel is None:
        return redis.asyncio.Redis.from_url(url, **options)
    sentinel = target.sentinel
    manager = redis.asyncio.sentinel.Sentinel(
        list(sentinel.sentinels),
        sentinel_kwargs=_sentinel_kwargs(sentinel, options),
        **_master_credentials(sentinel),
    )
    return manager.master_for(sentinel.master, _AsyncSentinelMaster, **options)


class _SentinelMaster(redis.Redis):
    """The master's client, which closes its connections to the Sentinels with its own."""

    def close(self) -> None:
        super().close()
        self.connection_pool.sentinel_manager.close()  # type: ignore[attr-defined]


class _AsyncSentinelMaster(redis.asyncio.Redis):
    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        await self.connection_pool.sentinel_manager.aclose()  # type: ignore[attr-defined]


def _master_credentials(sentinel: SentinelTarget) -> dict[str, Any]:
    credentials: dict[str, Any] = {"db": sentinel.db}
    if sentinel.username:
        credentials["username"] = sentinel.username
    if sentinel.password:
        credentials["password"] = sentinel.password
    return credentials


def _sentinel_kwargs(sentinel: SentinelTarget, options: dict[str, Any]) -> dict[str, Any]:
    """How to talk to the Sentinels themselves: their credentials, the client's timeouts."""
    kwargs = {key: value for key, value in options.items() if key.startswith("socket_")}
    if sentinel.sentinel_username:
        kwargs["username"] = sentinel.sentinel_username
    if sentinel.sentinel_password:
        kwargs["password"] = sentinel.sentinel_password
    return kwargs


# --- Celery --------------------------------------------------------------------------------


def celery_broker(url: str) -> CeleryBroker:
    """The same server for kombu, which spells sockets, TLS and Sentinel its own way."""
    target = parse_redis_url(url)
    if target.sentinel is not None:
        return _sentinel_broker(target.sentinel)
    if target.kind == "unix":
        return CeleryBroker(_socket_broker_url(target.options))
    if target.kind == "tls":
        return _tls_broker(target.options)
    return CeleryBroker(url)


def _credentials(username: str | None, password: str | None) -> str:
    if not username and not password:
        return ""
    return f"{quote(username or '', safe='')}:{quote(password or '', safe='')}@"


def _socket_broker_url(options: dict[str, Any]) -> str:
    """``unix://:PASSWORD@/path?db=N`` to redis-py is ``redis+socket://:PASSWORD@/path?
    virtual_host=N`` to kombu (which knows no ``unix://`` and ignores a password given in
    the query)."""
    credentials = _credentials(options.get("username"), options.get("password"))
    query = urlencode({"virtual_host": options.get("db", 0)})
    return f"redis+socket://{credentials}{options['path']}?{query}"


def _tls_broker(options: dict[str, Any]) -> CeleryBroker:
    """kombu reads a ``rediss://`` URL without TLS options as "do not verify the
    certificate": the options go beside the URL, verifying unless the URL says otherwise."""
    use_ssl = {key: value for key, value in options.items() if key.startswith("ssl_")}
    use_ssl.setdefault("ssl_cert_reqs", "required")
    credentials = _credentials(options.get("username"), options.get("password"))
    address = f"{_bracketed(options.get('host', 'localhost'))}:{options.get('port', 6379)}"
    return CeleryBroker(f"rediss://{credentials}{address}/{options.get('db', 0)}", {}, use_ssl)


def _sentinel_broker(sentinel: SentinelTarget) -> CeleryBroker:
    """kombu's form: ``sentinel://:PASSWORD@host1:26379/0;sentinel://:PASSWORD@host2:
    26379/0`` with the master's name and the Sentinels' credentials as transport options."""
    credentials = _credentials(sentinel.username, sentinel.password)
    url = ";".join(
        f"sentinel://{credentials}{_bracketed(host)}:{port}/{sentinel.db}"
        for host, port in sentinel.sentinels
    )
    options: dict[str, Any] = {"master_name": sentinel.master}
    sentinel_kwargs = _sentinel_kwargs(sentinel, {})
    if sentinel_kwargs:
        options["sentinel_kwargs"] = sentinel_kwargs
    return CeleryBroker(url, options)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
