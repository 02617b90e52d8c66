"""A stand-in Kubernetes API server on loopback, for the real `kubernetes` client.

No API server can run on these machines (DESIGN.md), so the verifier's tests point the
official client, through an ordinary kubeconfig with a bearer token, at this one. It
serves what the verifier reads, as the Kubernetes API documents it:

- `GET /apis/apps/v1/namespaces/{ns}/deployments` and `.../statefulsets`,
  `GET /api/v1/namespaces/{ns}/pods`,
  `GET /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications` (Argo CD's CRD):
  a `<Kind>List` with `metadata.resourceVersion` and its `items`;
- the same with `?watch=true&resourceVersion=N`: a chunked stream of JSON lines
  (`{"type": "ADDED"|"MODIFIED"|"DELETED", "object": {...}}`) of every change after N, held
  open for new ones until `timeoutSeconds`; when N was compacted away
  (:meth:`FakeApiServer.compact`), the one event `{"type": "ERROR", "object": Status 410
  Expired}` the real server sends;
- `PATCH /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications/{name}` with a JSON merge
  patch (`application/merge-patch+json`, RFC 7386), as the verifier's refresh annotation
  sends it: the patched object, a MODIFIED event; 404 for an unknown Application, or the
  status set in :attr:`FakeApiServer.refuse_patches` (403: RBAC without `patch`).

Every stored change gets the next resourceVersion, as etcd's revision does. Requests without
the token get 401. The test drives the cluster by storing objects (:meth:`put`).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Obj = dict[str, Any]
TOKEN = "verifier-test-token"
_PATH = re.compile(
    r"^/(?P<group>api/v1|apis/apps/v1|apis/argoproj\.io/v1alpha1)/namespaces/(?P<ns>[a-z0-9-]+)"
    r"/(?P<plural>deployments|statefulsets|pods|applications)$"
)
_APPLICATION = re.compile(
    r"^/apis/argoproj\.io/v1alpha1/namespaces/(?P<ns>[a-z0-9-]+)/applications/(?P<name>[a-z0-9-]+)$"
)
MERGE_PATCH = "application/merge-patch+json"
KINDS = {
    "deployments": ("apps/v1", "Deployment"),
    "statefulsets": ("apps/v1", "StatefulSet"),
    "pods": ("v1", "Pod"),
    "applications": ("argoproj.io/v1alpha1", "Application"),
}


class FakeApiServer:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._revision = 1000
        self._objects: dict[tuple[str, str], dict[str, Obj]] = {}  # (plural, ns) → name → obj
        self._events: list[tuple[int, str, str, str, Obj]] = []  # rv, plural, ns, type, obj
        self._compacted = 0  # watching from a version at or below this answers 410
        self._epoch = 0  # bumped to end every open watch (a dropped connection)
        self._closing = False
        self.requests: list[str] = []  # "GET /path?query", in order
        self.patches: list[tuple[str, str, Obj]] = []  # path, Content-Type, body
        self.refuse_patches: int | None = None  # answer every PATCH with this status
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    # --- the test's side ----------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "verifier", "user": {"token": TOKEN}}],
                    "contexts": [
                        {
                            "name": "fake",
                            "context": {
                                "cluster": "fake",
                                "user": "verifier",
                                "namespace": namespace,
                            },
                        }
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path

    def put(self, plural: str, obj: Obj) -> Obj:
        """Create or replace an object; it gets the next resourceVersion."""
        meta = obj["metadata"]
        with self._changed:
            self._revision += 1
            stored = copy.deepcopy(obj)
            api_version, kind = KINDS[plural]
            stored["apiVersion"], stored["kind"] = api_version, kind
            stored["metadata"]["resourceVersion"] = str(self._revision)
            bucket = self._objects.setdefault((plural, meta["namespace"]), {})
            change = "MODIFIED" if meta["name"] in bucket else "ADDED"
            bucket[meta["name"]] = stored
            self._events.append((self._revision, plural, meta["namespace"], change, stored))
            self._changed.notify_all()
        return stored

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        with self._changed:
            found = self._objects.get((plural, namespace), {}).get(name)
            return copy.deepcopy(found) if found is not None else None

    def _patch(self, namespace: str, name: str, patch: Obj) -> Obj | None:
        with self._changed:
            current = self._objects.get(("applications", namespace), {}).get(name)
            if current is None:
                return None
            return self.put("applications", _merge(copy.deepcopy(current), patch))

    def compact(self) -> None:
        """Forget the change history, as etcd compaction does: old versions answer 410."""
        with self._changed:
            self._compacted = self._revision
            self._events.clear()

    def drop_watches(self) -> None:
        """End every open watch stream, as a restarted API server or a proxy would."""
        with self._changed:
            self._epoch += 1
            self._changed.notify_all()

    def expire_watches(self, *changes: tuple[str, Obj]) -> None:
        """End every open watch, store `changes` and compact them away, all at once: the
        watches resume from a version the server no longer has, and get 410 Gone."""
        with self._changed:
            self._epoch += 1
            for plural, obj in changes:
                self.put(plural, obj)
            self.compact()
            self._changed.notify_all()

    def watches(self) -> list[str]:
        return [r for r in self.requests if "watch=true" in r.lower()]

    def lists(self) -> list[str]:
        return [r for r in self.requests if "watch=true" not in r.lower()]

    # --- the HTTP side ----------------------------------------------------------------

    def _list(self, plural: str, namespace: str) -> Obj:
        api_version, kind = KINDS[plural]
        with self._changed:
            items = [copy.deepcopy(o) for o in self._objects.get((plural, namespace), {}).values()]
            revision = self._revision
        for item in items:  # list items carry no kind or apiVersion
            item.pop("kind"), item.pop("apiVersion")
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(revision)},
            "items": items,
        }

    def _stream(self, plural: str, namespace: str, since: int, timeout: float, send: Any) -> None:
        with self._changed:
            if since < self._compacted:
                expired = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"too old resource version: {since} ({self._compacted})",
                    "reason": "Expired",
                    "code": 410,
                }
                send({"type": "ERROR", "object": expired})
                return
            epoch, last = self._epoch, since
            while not self._closing and self._epoch == epoch:
                fresh = [
                    e for e in self._events if e[0] > last and e[1] == plural and e[2] == namespace
                ]
                for revision, _, _, change, obj in fresh:
                    send({"type": change, "object": obj})
                    last = revision
                if not self._changed.wait(timeout=timeout):
                    return

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                server.requests.append(f"GET {self.path}")
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._json(401, _status(401, "Unauthorized", "Unauthorized"))
                match = _PATH.match(url.path)
                if match is None:
                    return self._json(404, _status(404, "NotFound", f"{url.path} not found"))
                plural, namespace = match["plural"], match["ns"]
                if query.get("watch", "").lower() not in ("true", "1"):  # Go's ParseBool
                    return self._json(200, server._list(plural, namespace))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                since = int(query.get("resourceVersion") or 0)
                timeout = float(query.get("timeoutSeconds", 30))
                try:
                    server._stream(plural, namespace, since, timeout, self._chunk)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def do_PATCH(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(f"PATCH {self.path}")
                server.patches.append((self.path, self.headers.get("Content-Type", ""), body))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._json(401, _status(401, "Unauthorized", "Unauthorized"))
                match = _APPLICATION.match(urlsplit(self.path).path)
                if match is None:
                    return self._json(404, _status(404, "NotFound", f"{self.path} not found"))
                if server.refuse_patches is not None:
                    code = server.refuse_patches
                    return self._json(code, _status(code, "Forbidden", "cannot patch"))
                if self.headers.get("Content-Type") != MERGE_PATCH:
                    return self._json(415, _status(415, "UnsupportedMediaType", "merge only"))
                patched = server._patch(match["ns"], match["name"], body)
                if patched is None:
                    return self._json(404, _status(404, "NotFound", f"{match['name']} not found"))
                return self._json(200, patched)

            def _chunk(self, event: Obj) -> None:
                data = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _json(self, status: int, body: Obj) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _merge(target: Obj, patch: Obj) -> Obj:
    """RFC 7386: objects merge key by key, null removes a key, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = _merge(target[key], value)
        else:
            target[key] = value
    return target


def _status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
