"""Slack incoming webhooks: one Block Kit message per notification.

A run summary reads: a header with the outcome and the commit, a line with the commit link,
the run and its duration, then per service its status, image, digest, scan and duration,
and why it did not succeed. Slack's limits (50 blocks, 150 characters in a header, 2000 in
a field, 3000 in a text) are kept by clipping and by listing at most MAX_SERVICES.
"""

from __future__ import annotations

import json
from typing import Any

from services.common.events import (
    Envelope,
    ManifestCommitted,
    RunCompleted,
    ScanFailed,
    ServiceOutcome,
    StageFailed,
)
from services.common.run_records import scan_summary
from services.common.settings import SlackChannelSettings
from services.notifier.channels._format import clip, commit_url, duration, scan
from services.notifier.channels._http import post
from services.notifier.channels.base import RoutedChannel
from services.notifier.messages import ICONS, summary
from services.notifier.routing import Route

MAX_SERVICES = 20
Block = dict[str, Any]


class SlackChannel(RoutedChannel):
    def __init__(self, settings: SlackChannelSettings, index: int = 0) -> None:
        super().__init__(settings.channel_name(index), Route.of(settings))
        self._settings = settings

    def send(self, event: Envelope, environment: str | None = None) -> None:
        url = self._settings.url.get_secret_value()
        shown = message(event, self._settings.commit_url_template, environment)
        raw = json.dumps(shown).encode()
        post(
            self.name,
            url,
            content=raw,
            headers={"Content-Type": "application/json"},
            timeout=self._settings.timeout_seconds,
            secrets=[url],
        )


def message(
    event: Envelope, commit_url_template: str | None = None, environment: str | None = None
) -> dict[str, Any]:
    """The webhook's JSON: ``text`` for notifications and clients without blocks, ``blocks``
    (the environment, when known, under the first)."""
    shown = blocks(event, commit_url_template)
    if environment:
        shown.insert(1, _context(f"in *{escape(environment)}*"))
    return {"text": clip(escape(summary(event, environment)), 3000), "blocks": shown}


def blocks(event: Envelope, template: str | None = None) -> list[Block]:
    match event:
        case RunCompleted():
            return _run(event, template)
        case ManifestCommitted():
            link = _commit(template, event.source.repository, event.source.commit)
            return [
                _header(f"{ICONS['succeeded']} {event.service} deployed"),
                _fields(
                    ("Service", event.service),
                    ("Status", _status("succeeded")),
                    ("Image", _code(event.new_image)),
                    ("Digest", _code(event.digest) if event.digest else ""),
                    ("Commit", link),
                    (
                        "Manifest",
                        f"{_code(event.manifest_path)} at {_code(event.gitops_commit[:7])}",
                    ),
                ),
                _context(f"was {_code(event.old_image)}"),
            ]
        case ScanFailed():
            link = _commit(template, event.source.repository, event.source.commit)
            found = "\n".join(f"• {escape(f.describe())}" for f in event.findings[:10])
            if len(event.findings) > 10:
                found += f"\n… and {len(event.findings) - 10} more"
            return [
                _header(f"{ICONS['blocked']} {event.service} blocked by the scan"),
                _fields(
                    ("Service", event.service),
                    ("Status", _status("blocked")),
                    ("Image", _code(event.image)),
                    ("Digest", _code(event.digest)),
                    ("Commit", link),
                    ("Scan", escape(scan_summary("blocked", event.counts))),
                ),
                _section(found or escape(event.policy)),
            ]
        case StageFailed():
            where = f" for {event.service}" if event.service else ""
            return [
                _header(f"{ICONS['failed']} {event.stage} failed{where}"),
                _fields(
                    ("Service", event.service or "—"),
                    ("Status", _status("failed")),
                    ("Stage", event.stage),
                    ("Error", escape(event.error_class)),
                ),
                _section(f"```{clip(escape(event.message), 2900)}```"),
            ]
    return [_section(escape(summary(event)))]


def _run(event: RunCompleted, template: str | None) -> list[Block]:
    subject = f"{event.repository}@{event.commit[:7]}" if event.commit else f"run {event.run_id}"
    facts = [f"*Run* {_code(event.run_id)}", f"*Duration* {duration(event.seconds)}"]
    if event.commit:
        facts.insert(0, f"*Commit* {_commit(template, event.repository, event.commit)}")
    result = [
        _header(f"{_icon(event.status)} {subject} {event.status}"),
        _section(" · ".join(facts)),
    ]
    names = sorted(event.services)
    for name in names[:MAX_SERVICES]:
        result.extend(_service(name, event.services[name]))
    if len(names) > MAX_SERVICES:
        result.append(_context(f"… and {len(names) - MAX_SERVICES} more services"))
    if not names:
        result.append(_context("no service changed"))
    return result


def _service(name: str, service: ServiceOutcome) -> list[Block]:
    result = [
        _fields(
            ("Service", name),
            ("Status", _status(service.status)),
            ("Image", _code(service.image) if service.image else "—"),
            ("Digest", _code(service.digest) if service.digest else "—"),
            ("Scan", escape(scan(service))),
            ("Duration", duration(service.seconds)),
        )
    ]
    if service.reason and service.status != "succeeded":
        result.append(_context(escape(service.reason)))
    return result


# --- Block Kit -------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: &, < and > would otherwise start entities and links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(text, 150), "emoji": True},
    }


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}


def _fields(*pairs: tuple[str, str]) -> Block:
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", 2000)}
        for label, value in pairs
        if value
    ]
    return {"type": "section", "fields": fields[:10]}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, 3000)}]}


def _code(text: str) -> str:
    return f"`{escape(text)}`"


def _icon(status: str) -> str:
    return ICONS.get(status, "•")


def _status(status: str) -> str:
    return f"{_icon(status)} {status}"


def _commit(template: str | None, repository: str, commit: str) -> str:
    url = commit_url(template, repository, commit)
    return f"<{url}|{commit[:7]}>" if url else _code(commit[:7])
