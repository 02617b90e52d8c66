"""The reconciler's step that publishes the auto-promotions whose soak is over
(services/common/auto_promotion_runs.py keeps them due in Redis, never in a worker)."""

from __future__ import annotations

from collections.abc import Callable

from services.common.auto_promotion_runs import AutoPromotionRuns
from services.common.logging import get_logger


class DuePromotions:
    def __init__(self, starts: AutoPromotionRuns) -> None:
        self._starts = starts

    def pass_once(self, leading: Callable[[], bool] = lambda: True) -> int:
        started = self._starts.start_due(leading)
        if started:
            get_logger(component="reconciler").info("auto-promotions due", started=started)
        return started
