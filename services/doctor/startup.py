"""The fast checks at `shipline up`: one log line per problem, never a secret (URLs lose
their credentials in the checks and again in the log processors)."""

from __future__ import annotations

from services.common.logging import get_logger
from services.common.settings import Settings
from services.doctor.plan import fast_checks, in_order
from services.doctor.result import CheckResult
from services.doctor.runner import run_checks


def startup_problems(settings: Settings) -> list[CheckResult]:
    return [r for r in in_order(run_checks(fast_checks(settings))) if r.status != "ok"]


def log_startup_problems(settings: Settings) -> list[CheckResult]:
    """Run the fast checks and log what is wrong; the problems, for the caller to act on."""
    problems = startup_problems(settings)
    log = get_logger(component="doctor")
    for problem in problems:
        level = log.error if problem.status == "fail" else log.warning
        level(
            f"start-up check: {problem.name}: {problem.detail}",
            check=problem.name,
            status=problem.status,
            fix=problem.fix,
        )
    if problems:
        log.warning("`shipline doctor` checks everything a deploy needs, with what to do")
    return problems
