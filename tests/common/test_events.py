import json

import pytest
from pydantic import ValidationError

from services.common.errors import EventDecodeError
from services.common.events import (
    EVENT_TYPES,
    BuildRequested,
    BuildSuperseded,
    ChangeDetected,
    DeploymentFailed,
    DeploymentSkipped,
    DeploymentVerified,
    DeployRequested,
    Envelope,
    Finding,
    ImagePushed,
    ManifestCommitted,
    PromotionRequested,
    PullRequestClosed,
    PullRequestOpened,
    PushedCommit,
    PushReceived,
    ReleaseImage,
    ReleaseReady,
    ReleaseRequested,
    RollbackRequested,
    RunCompleted,
    ScanFailed,
    ScanPassed,
    ServiceOutcome,
    Source,
    StageFailed,
    Unpinned,
    UnpinRequested,
    decode_event,
    encode_event,
)

AFTER = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
BEFORE = "a10867b14bb761a232cd80139fbd4c0d33264240"
DIGEST = "sha256:" + "ab" * 32
RUN = "run-20240101-0001"
SOURCE = Source(repository="acme/microbank", commit=AFTER, ref="refs/heads/main")
SECRET = Finding(
    kind="secret",
    id="aws-access-key-id",
    severity="CRITICAL",
    title="AWS Access Key ID",
    target="/app/.env:3",
)


def push_received() -> PushReceived:
    return PushReceived(
        run_id=RUN,
        provider="github",
        delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        repository="acme/microbank",
        ref="refs/heads/main",
        before=BEFORE,
        after=AFTER,
        pusher="ada",
        commits=(
            PushedCommit(
                id=AFTER,
                message="user-service: greet by name",
                author="ada@example.com",
                modified=("user_service/app.txt",),
            ),
        ),
    )


def change_detected(service: str = "user-service") -> ChangeDetected:
    return ChangeDetected(
        run_id=RUN,
        service=service,
        source=SOURCE,
        context="user_service",
        dockerfile="Dockerfile",
        image_repository="127.0.0.1:5000/microbank/user-service",
        tags=("sha-6113728", "latest"),
        reason="paths",
        changed_paths=("user_service/app.txt",),
    )


def image_pushed() -> ImagePushed:
    return ImagePushed(
        run_id=RUN,
        service="user-service",
        source=SOURCE,
        image_repository="127.0.0.1:5000/microbank/user-service",
        tags=("sha-6113728", "latest"),
        digest=DIGEST,
        build_seconds=4.2,
        cached=True,
    )


def scan_result_fields() -> dict[str, object]:
    return {
        "run_id": RUN,
        "service": "user-service",
        "source": SOURCE,
        "image_repository": "127.0.0.1:5000/microbank/user-service",
        "tags": ("sha-6113728",),
        "digest": DIGEST,
        "counts": {"CRITICAL": 1, "HIGH": 0},
        "policy": "any secret blocks",
        "report_location": "/var/shipline/reports/user-service.trivy.json",
    }


def build_requested(**fields: object) -> BuildRequested:
    values: dict[str, object] = {
        "run_id": RUN,
        "repository": "acme/microbank",
        "ref": "refs/heads/main",
        "services": ("user-service",),
    }
    values.update(fields)
    return BuildRequested(**values)


def one_of_each_event() -> list[Envelope]:
    return [
        push_received(),
        build_requested(requested_by="api-token-1"),
        ReleaseRequested(run_id=RUN, repository="acme/microbank", tag="v1.2.0"),
        DeployRequested(
            run_id=RUN, service="user-service", repository="acme/microbank", tag="v1.0.0"
        ),
        change_detected(),
        image_pushed(),
        BuildSuperseded(
            run_id=RUN,
            service="user-service",
            source=SOURCE,
            newer_commit=BEFORE,
            newer_run_id="run-20240101-0002",
        ),
        ScanPassed(**scan_result_fields()),
        ScanFailed(**scan_result_fields(), findings=(SECRET,)),
        ManifestCommitted(
            run_id=RUN,
            service="user-service",
            source=SOURCE,
            manifest_path="k8s/manifests/user-service/deployment.yaml",
            old_image="127.0.0.1:5000/microbank/user-service:initial",
            new_image="127.0.0.1:5000/microbank/user-service:sha-6113728",
            digest=DIGEST,
            gitops_repository="acme/microbank",
            gitops_commit=BEFORE,
            branch="main",
        ),
        StageFailed(
            run_id=RUN,
            stage="builder",
            service="user-service",
            error_class="PermanentError",
            message="COPY failed: file not found",
            attempt=2,
        ),
        RunCompleted(
            run_id=RUN,
            status="succeeded",
            repository="acme/microbank",
            commit=AFTER,
            services={"user-service": ServiceOutcome(status="succeeded", seconds=12.5)},
            seconds=30.0,
        ),
        RollbackRequested(
            run_id=RUN, service="user-service", repository="acme/microbank", to="v1.0.0"
        ),
        UnpinRequested(
            run_id=RUN, service="user-service", repository="acme/microbank", requested_by="ada"
        ),
        PromotionRequested(
            run_id=RUN,
            repository="acme/microbank",
            services=("user-service",),
            environment="production",
            requested_by="ada",
            reason="staging soaked a day",
        ),
        PullRequestOpened(
            run_id=RUN,
            service="user-service",
            environment="production",
            gitops_repository="acme/gitops",
            number=7,
            url="https://github.com/acme/gitops/pull/7",
            branch="shipline/promote-production",
            commit=BEFORE,
        ),
        PullRequestClosed(
            run_id=RUN,
            gitops_repository="acme/gitops",
            number=7,
            merged=True,
            merge_commit_sha=BEFORE,
        ),
        Unpinned(
            run_id=RUN,
            service="user-service",
            repository="acme/microbank",
            image="127.0.0.1:5000/microbank/user-service:sha-a10867b",
            pinned_by="ada",
            rollback_run_id="run-20240101-0000",
            gitops_repository="acme/microbank",
            gitops_commit=AFTER,
            branch="gitops",
        ),
        ReleaseReady(
            run_id=RUN,
            source=SOURCE,
            version="v1.2.0",
            images={
                "user-service": ReleaseImage(
                    image_repository="127.0.0.1:5000/microbank/user-service",
                    tag="v1.2.0",
                    digest=DIGEST,
                )
            },
            held={"frontend": "blocked: CRITICAL secret"},
        ),
        DeploymentSkipped(
            run_id=RUN,
            service="user-service",
            source=SOURCE,
            image="127.0.0.1:5000/microbank/user-service:sha-6113728",
            outcome="superseded",
            reason="superseded: 1a2b3c4 is deployed, and 6113728 is older",
        ),
        DeploymentVerified(
            run_id=RUN,
            service="user-service",
            source=SOURCE,
            image="127.0.0.1:5000/microbank/user-service:sha-6113728",
            cluster="prod",
            gitops_commit=BEFORE,
            workload="Deployment bank/user-service",
            application="argocd/microbank",
            seconds=95.2,
            rollout_seconds=41.0,
            ready_replicas=3,
        ),
        DeploymentFailed(
            run_id=RUN,
            service="user-service",
            source=SOURCE,
            image="127.0.0.1:5000/microbank/user-service:sha-6113728",
            old_image="127.0.0.1:5000/microbank/user-service:initial",
            cluster="prod",
            gitops_commit=BEFORE,
            condition="CrashLoopBackOff",
            reason="CrashLoopBackOff after 3 restarts: container app of pod user-service-1",
            auto_rollback=True,
        ),
    ]


def test_the_examples_cover_every_event_type():
    assert sorted(event.type for event in one_of_each_event()) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("event", one_of_each_event(), ids=lambda event: event.type)
def test_every_event_survives_an_encode_decode_round_trip(event):
    decoded = decode_event(encode_event(event))

    assert type(decoded) is type(event)
    assert decoded == event


@pytest.mark.parametrize("event", one_of_each_event(), ids=lambda event: event.type)
def test_decoding_accepts_an_already_parsed_dict(event):
    assert decode_event(json.loads(encode_event(event))) == event


def test_an_unknown_type_is_a_decode_error_naming_the_type():
    payload = {**json.loads(encode_event(image_pushed())), "type": "ImageTeleported"}

    with pytest.raises(EventDecodeError, match="ImageTeleported") as caught:
        decode_event(payload)

    assert "type" in str(caught.value)


def test_a_missing_field_is_a_decode_error_naming_the_field():
    payload = json.loads(encode_event(image_pushed()))
    del payload["digest"]

    with pytest.raises(EventDecodeError, match=r"ImagePushed\.digest: Field required"):
        decode_event(payload)


def test_a_nested_invalid_field_is_named_by_its_path():
    payload = json.loads(encode_event(image_pushed()))
    payload["source"]["commit"] = "not-a-sha"

    with pytest.raises(EventDecodeError, match=r"ImagePushed\.source\.commit"):
        decode_event(payload)


def test_text_that_is_not_json_is_a_decode_error():
    with pytest.raises(EventDecodeError, match="invalid event"):
        decode_event("{not json")


def test_an_unexpected_field_is_a_decode_error_naming_it():
    payload = {**json.loads(encode_event(image_pushed())), "priority": "high"}

    with pytest.raises(EventDecodeError, match="priority"):
        decode_event(payload)


def test_events_are_frozen():
    event = image_pushed()

    with pytest.raises(ValidationError, match="frozen"):
        event.digest = "sha256:" + "cd" * 32  # type: ignore[misc]
    assert event.digest == DIGEST


def test_follow_up_id_is_the_same_for_the_same_event_kind_and_parts():
    push = push_received()

    assert push.follow_up_id("ChangeDetected", "user-service") == push.follow_up_id(
        "ChangeDetected", "user-service"
    )


def test_follow_up_id_survives_redelivery_of_the_same_event():
    push = push_received()

    redelivered = decode_event(encode_event(push))

    assert redelivered.follow_up_id("ChangeDetected", "user-service") == push.follow_up_id(
        "ChangeDetected", "user-service"
    )


def test_follow_up_id_differs_per_kind_per_parts_and_per_cause():
    push = push_received()
    ids = {
        push.follow_up_id("ChangeDetected", "user-service"),
        push.follow_up_id("ChangeDetected", "account-service"),
        push.follow_up_id("StageFailed", "user-service"),
        push.follow_up_id("ChangeDetected"),
        push_received().follow_up_id("ChangeDetected", "user-service"),
    }

    assert len(ids) == 5


@pytest.mark.parametrize(
    "name", ["../x", "a;rm", "User-Service", "-leading", "trailing-", "a b", "x" * 64, ""]
)
def test_invalid_service_names_are_rejected(name):
    with pytest.raises(ValidationError, match="service"):
        change_detected(service=name)


@pytest.mark.parametrize("name", ["a", "user-service", "svc2", "x" * 63])
def test_dns_label_service_names_are_accepted(name):
    assert change_detected(service=name).service == name


@pytest.mark.parametrize(
    "commit",
    [AFTER[:7], AFTER + "0", AFTER.upper(), "g" * 40, AFTER[:39] + "\n"],
    ids=["short", "long", "uppercase", "not-hex", "newline"],
)
def test_commit_shas_must_be_forty_lowercase_hex_digits(commit):
    with pytest.raises(ValidationError, match="commit"):
        Source(repository="acme/microbank", commit=commit, ref="refs/heads/main")


def test_short_sha_is_the_first_seven_characters_of_the_commit():
    assert SOURCE.short_sha == "6113728"


def test_an_image_is_named_by_its_first_tag_and_pinned_by_its_digest():
    image = image_pushed()

    assert image.image == "127.0.0.1:5000/microbank/user-service:sha-6113728"
    assert image.image_by_digest == f"127.0.0.1:5000/microbank/user-service@{DIGEST}"


def test_a_build_request_names_a_commit_or_a_ref():
    with pytest.raises(ValidationError, match="give a commit or a ref"):
        build_requested(ref=None)

    assert build_requested(ref=None, commit=AFTER).commit == AFTER


@pytest.mark.parametrize(
    "fields",
    [
        {"services": ()},
        {"services": ("User_Service",)},
        {"commit": "HEAD~1"},
        {"ref": "main"},
        {"ref": "refs/heads/a..b"},
    ],
    ids=["no-services", "bad-service-name", "commit-not-a-sha", "short-ref", "dotted-ref"],
)
def test_a_build_request_with_bad_fields_is_refused(fields):
    with pytest.raises(ValidationError):
        build_requested(**fields)


def test_change_detected_carries_build_args_and_target_and_defaults_to_none():
    plain = change_detected()
    tuned = ChangeDetected(
        **{**plain.model_dump(), "build_args": {"PYTHON_VERSION": "3.11"}, "target": "runtime"}
    )

    assert plain.build_args == {} and plain.target is None
    assert decode_event(encode_event(tuned)) == tuned


@pytest.mark.parametrize(
    "fields",
    [{"build_args": {"BAD NAME": "x"}}, {"build_args": {"1ST": "x"}}, {"target": "-stage"}],
)
def test_change_detected_refuses_odd_build_arg_names_and_targets(fields):
    with pytest.raises(ValidationError):
        ChangeDetected(**{**change_detected().model_dump(), **fields})


def test_a_promotion_request_naming_an_image_is_refused():
    """What a promotion moves is what the source environment runs in git, never an image a
    token holder names: an event carrying one does not decode."""
    hostile = {
        "type": "PromotionRequested",
        "run_id": RUN,
        "repository": "acme/microbank",
        "services": ["user-service"],
        "environment": "production",
        "image": "evil.example/backdoor:latest",
    }
    with pytest.raises(EventDecodeError, match="image"):
        decode_event(hostile)
