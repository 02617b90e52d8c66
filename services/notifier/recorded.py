"""A run summary says what the stages recorded, never what the event claims. Pure.

A commit status or a message announcing a run's outcome is built from the run store: the
repository and commit the run was started for, each service's recorded outcome, and the
overall status computed from those. A summary for a run the store does not have, or one
that has not finished, is not sent at all.
"""

from __future__ import annotations

from services.common.errors import PermanentError
from services.common.events import RunCompleted
from services.common.run_models import Run
from services.common.run_records import FINAL_SERVICE_STATUSES, overall_status, service_outcome


def recorded_summary(event: RunCompleted, run: Run | None) -> RunCompleted:
    """`event` with every outcome taken from `run` (RunStore.get); PermanentError when the
    store has no finished run of that id."""
    if run is None:
        raise PermanentError(f"run {event.run_id} is not recorded: its summary is not sent")
    services = run.services
    run_failed = run.failure is not None
    unfinished = sorted(n for n, s in services.items() if s.status not in FINAL_SERVICE_STATUSES)
    # a run recovered after Redis lost its data fans out to the services seen since
    planned = len(services) if run.recovered_at is not None else run.expected
    if not run_failed and (planned is None or unfinished or len(services) < planned):
        waiting = ", ".join(unfinished) or "its services are not all recorded"
        raise PermanentError(
            f"run {event.run_id} has not finished ({waiting}): its summary is not sent"
        )
    outcomes = {name: service_outcome(service) for name, service in services.items()}
    return event.model_copy(
        update={
            "status": overall_status(outcomes, run_failed=run_failed),
            "repository": run.repository or "",
            "commit": run.commit or "",
            "services": outcomes,
            "release": run.release or "",
            "release_notes": run.release_notes or "",
        }
    )
