"""`runs:` in the server settings: how long the run store keeps finished runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RunsSettings(BaseModel):
    """`runs:`: a finished run created more than `retention_days` ago is deleted with its
    events by the reconciler (services/common/run_retention.py); 0 keeps every run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_days: float = Field(default=30.0, ge=0)
    trim_per_pass: int = Field(default=200, ge=1, le=10_000)  # runs deleted per reconciler pass

    @property
    def retention_seconds(self) -> float | None:
        """None: runs are kept forever."""
        return self.retention_days * 86400 if self.retention_days > 0 else None
