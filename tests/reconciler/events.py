"""Events of one run, as the reconciler's tests log and decide on them."""

from __future__ import annotations

from services.common.events import ChangeDetected, ImagePushed, PushReceived, Source

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SOURCE = Source(repository="acme/microbank", commit=COMMIT, ref="refs/heads/main")


def push(run_id: str = "run-1") -> PushReceived:
    return PushReceived(
        run_id=run_id,
        provider="manual",
        delivery_id=run_id,
        repository="acme/microbank",
        ref="refs/heads/main",
        before="1" * 40,
        after=COMMIT,
    )


def change(service: str, run_id: str = "run-1") -> ChangeDetected:
    return ChangeDetected(
        run_id=run_id,
        service=service,
        source=SOURCE,
        context=service,
        dockerfile="Dockerfile",
        image_repository=f"localhost:5000/microbank/{service}",
        tags=("sha-0123456",),
        reason="paths",
    )


def image(service: str, run_id: str = "run-1") -> ImagePushed:
    return ImagePushed(
        run_id=run_id,
        service=service,
        source=SOURCE,
        image_repository=f"localhost:5000/microbank/{service}",
        tags=("sha-0123456",),
        digest="sha256:" + "a" * 64,
    )
