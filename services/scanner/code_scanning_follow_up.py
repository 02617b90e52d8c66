"""The scanner's follow-up of its code-scanning uploads: a daemon thread of each scanner
worker process, acting in the one that holds `keys.code_scanning_leader`, that passes every
PERIOD_SECONDS over the uploads due (services/githost/code_scanning_status.py).

Why the scanner and not the reconciler: the reconciler runs in every worker process, and
its leader may be any of them (a builder, the verifier), while the source repository's host
token is given to the committer, the scanner and the notifier only (stage_secrets.py). The
scanner made the upload with that token; asking about it needs nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from services.common.redis_connect import connect
from services.common.runtime import Runtime
from services.common.scan_host_reports import ScanHostReports
from services.githost.code_scanning_status import UploadStatusCheck
from services.reconciler.leader import Leadership, ReconcilerLoop
from services.reconciler.reconcile import PassReport

PERIOD_SECONDS = 5.0


def start_follow_up(runtime: Runtime) -> Callable[[], None] | None:
    """Start the follow-up in a daemon thread (None when no repository is on GitHub); the
    function that stops it."""
    repositories = runtime.settings.repositories
    if not any(repo.host is not None and repo.host.type == "github" for repo in repositories):
        return None
    client = connect(runtime.redis_url, socket_connect_timeout=3, socket_timeout=10)
    check = UploadStatusCheck(repositories, ScanHostReports(client, keys=runtime.keyspace))

    def one_pass(leading: Callable[[], bool]) -> PassReport:
        check.pass_once(leading)
        return PassReport()

    loop = ReconcilerLoop(
        Leadership(client, runtime.keyspace.code_scanning_leader), one_pass, PERIOD_SECONDS
    )
    threading.Thread(target=loop.run, name="code-scanning-follow-up", daemon=True).start()
    return loop.stop
