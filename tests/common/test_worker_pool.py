"""Which Celery pool each stage's worker runs its tasks in (`pool:`, services/common/worker.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.settings import Settings
from services.common.worker import load_definition, stage_pool


def pools(settings: Settings) -> dict[str, str]:
    return {
        stage: stage_pool(settings, load_definition(stage))
        for stage in ("detector", "builder", "scanner", "committer", "notifier", "verifier")
    }


def test_unset_the_notifier_and_the_verifier_run_threads_and_the_others_child_processes() -> None:
    assert pools(Settings()) == {
        "detector": "prefork",
        "builder": "prefork",
        "scanner": "prefork",
        "committer": "prefork",
        "notifier": "threads",
        "verifier": "threads",
    }


def test_the_setting_chooses_per_stage_and_leaves_the_others_at_their_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHIPLINE_POOL", '{"committer": "threads", "notifier": "prefork"}')

    chosen = pools(Settings())

    assert (chosen["committer"], chosen["notifier"]) == ("threads", "prefork")
    assert (chosen["detector"], chosen["verifier"]) == ("prefork", "threads")


@pytest.mark.parametrize(
    "pool", [{"notfier": "threads"}, {"notifier": "gevent"}, {"notifier": "solo"}]
)
def test_an_unknown_stage_or_pool_is_refused_at_start(pool: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"pool": pool})
