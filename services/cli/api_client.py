"""The HTTP client the `shipline` commands use to talk to a running Shipline API.

`SHIPLINE_URL` (default http://127.0.0.1:8080) and `SHIPLINE_TOKEN` (a bearer token from
the server's api_tokens) come from the environment; the token is never printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from services.common.run_models import RunDetail

DEFAULT_URL = "http://127.0.0.1:8080"
TOKEN_MISSING = (
    "SHIPLINE_TOKEN is not set: give a token from the server's api_tokens "
    f"(and SHIPLINE_URL, default {DEFAULT_URL})"
)
FINAL_RUN_STATUSES = (
    "succeeded",
    "failed",
    "blocked",
    "skipped",
    "superseded",
    "held",
    "rejected",
)


class ApiError(Exception):
    """The API refused the request or could not be reached; the message says why."""


class ApiClient:
    def __init__(self, url: str, token: str | None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApiClient:
        return cls(environ.get("SHIPLINE_URL") or DEFAULT_URL, environ.get("SHIPLINE_TOKEN"))

    def close(self) -> None:
        self._http.close()

    def post(self, path: str, body: Mapping[str, Any] | None = None, **params: str | None) -> Any:
        return self._send("POST", path, json=dict(body or {}), params=params)

    def get(self, path: str, **params: str | None) -> Any:
        return self._send("GET", path, params=params)

    def run(self, run_id: str) -> RunDetail:
        return RunDetail.model_validate(self.get(f"/api/v1/runs/{run_id}"))

    def wait_for_run(
        self,
        run_id: str,
        timeout: float,
        interval: float = 1.0,
        also: tuple[str, ...] = (),
    ) -> RunDetail:
        """The run once it has finished (or reached a status of `also`), or an ApiError when
        `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run.status in FINAL_RUN_STATUSES or run.status in also:
                return run
            if time.monotonic() > deadline:
                raise ApiError(f"run {run_id} is still {run.status} after {timeout:.0f}s")
            time.sleep(interval)

    def stream_events(
        self, run_id: str, after: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The run's events, live (server-sent events), as (entry id, event) until the server
        ends the stream: after RunCompleted, or when the run has ended. `after`: resume
        after that entry id (Last-Event-ID)."""
        headers = {"Accept": "text/event-stream"}
        if after:
            headers["Last-Event-ID"] = after
        path = f"/api/v1/runs/{run_id}/events"
        try:
            with self._http.stream("GET", path, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    self._refusal(response)
                entry_id, data = "", ""
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        entry_id = line[4:]
                    elif line.startswith("data: "):
                        data += line[6:]
                    elif not line and data:
                        yield entry_id, json.loads(data)
                        data = ""
        except httpx.HTTPError as exc:
            raise ApiError(f"lost the event stream from {self.url}: {type(exc).__name__}") from None

    def _refusal(self, response: httpx.Response) -> None:
        try:
            data = response.json()
        except ValueError:
            data = {"detail": response.text[:500]}
        detail = data.get("detail") if isinstance(data, dict) else data
        hint = " (set SHIPLINE_TOKEN)" if response.status_code in (401, 403) else ""
        raise ApiError(f"HTTP {response.status_code}: {detail}{hint}")

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        params = {k: v for k, v in kwargs.pop("params", {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=params, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(
                f"cannot reach the Shipline API at {self.url}: {type(exc).__name__}"
            ) from None
        if response.status_code >= 400:
            self._refusal(response)
        try:
            return response.json()
        except ValueError:
            return {"detail": response.text[:500]}
