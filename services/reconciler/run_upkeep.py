"""The reconciler's step that keeps the run store fast: the run indexes built once for the
runs recorded before they existed (a bounded batch per pass, run_index.py) and the runs in
progress checked against their status sets, then, once every run is indexed, the runs older
than `runs.retention_days` trimmed (a bounded batch per pass, run_retention.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.common.logging import get_logger
from services.common.run_index import RunIndex
from services.common.run_retention import RunRetention, Trimmed
from services.common.run_settings import RunsSettings


class RunUpkeep:
    def __init__(
        self,
        settings: RunsSettings,
        index: RunIndex,
        retention: RunRetention,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._settings, self._index, self._retention, self._now = settings, index, retention, now

    def pass_once(self, leading: Callable[[], bool] = lambda: True) -> Trimmed | None:
        """One batch of the index rebuild (until done), then one trim (None: retention off,
        or no longer leading)."""
        log = get_logger(component="reconciler")
        indexed = self._index.rebuild_step()
        if indexed is not None:
            log.info("runs indexed", runs=indexed, done=self._index.built())
        self._index.refresh_in_progress()
        seconds = self._settings.retention_seconds
        # not while rebuilding: a run deleted among those indexed would shift the next step
        if seconds is None or not self._index.built() or not leading():
            return None
        trimmed = self._retention.trim(self._now() - seconds, self._settings.trim_per_pass)
        if trimmed.runs:
            log.info("old runs deleted", runs=trimmed.runs, kept_in_progress=trimmed.kept)
        return trimmed
