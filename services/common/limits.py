"""Bounds on the work one request or one push can cause (server settings `limits`).

A repository writer controls shipline.yaml and the pushed files, and anyone who reaches
the gateway can open streams and replay webhooks; these caps keep any one of them from
holding the pipeline or the API for everyone else.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # shipline.yaml larger than this is refused before it is parsed.
    project_file_bytes: int = Field(default=1_048_576, gt=0)
    # A push that would build more services than this fails instead of fanning out.
    services_per_push: int = Field(default=1000, gt=0)
    # Live event streams (server-sent events) open at once, per gateway process: per client
    # address, per API token, and in all.
    event_streams_per_client: int = Field(default=10, gt=0)
    event_streams_total: int = Field(default=256, gt=0)
    # The same push (repository, ref, before, after) delivered again under another delivery
    # id within this many seconds starts nothing new; 0 turns the check off.
    replay_window_seconds: int = Field(default=3600, ge=0)
