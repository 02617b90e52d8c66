"""Routing: which notifications a channel takes, by event, service and outcome. Pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.events import RunCompleted, ServiceOutcome
from services.common.settings import SlackChannelSettings
from services.notifier.routing import Route, sent_key
from tests.notifier.samples import (
    RUN,
    account_blocked,
    manifest_committed,
    mixed_run,
    run_completed,
    scan_failed,
    stage_failed,
    user_succeeded,
)


def route(**options: object) -> Route:
    settings = SlackChannelSettings(type="slack", url="https://hooks.slack.test/x", **options)
    return Route.of(settings)


def held_run() -> RunCompleted:
    """A run whose pinned service was held: an outcome this module knows nothing about."""
    held = ServiceOutcome.model_construct(status="held", reason="pinned to sha-1111111")
    return run_completed(**{"user-service": user_succeeded(), "payments-api": held})


# --- events --------------------------------------------------------------------------------


def test_a_channel_takes_only_run_summaries_by_default():
    default = route()

    assert default.select(mixed_run()) is not None
    assert [default.select(e) for e in (manifest_committed(), scan_failed(), stage_failed())] == [
        None,
        None,
        None,
    ]


def test_a_route_without_an_event_filter_takes_every_event():
    everything = Route()

    for event in (mixed_run(), manifest_committed(), scan_failed(), stage_failed()):
        assert everything.select(event) is event


# --- services ------------------------------------------------------------------------------


def test_a_run_summary_is_narrowed_to_the_services_a_channel_follows_and_its_status_follows():
    event = mixed_run()

    shown = route(services=["user-service"]).select(event)

    assert isinstance(shown, RunCompleted)
    assert (list(shown.services), shown.status) == (["user-service"], "succeeded")
    assert (shown.run_id, shown.event_id, shown.commit) == (RUN, event.event_id, event.commit)
    assert event.status == "blocked"  # the event itself is left as it was


def test_a_run_summary_keeps_its_status_when_the_channel_follows_all_its_services():
    event = mixed_run()

    assert route(services=["*-service"]).select(event) is event


def test_a_run_without_any_followed_service_is_not_sent():
    assert route(services=["payments-*"]).select(mixed_run()) is None


def test_service_filters_take_globs():
    shown = route(services=["acc*"]).select(mixed_run())

    assert isinstance(shown, RunCompleted)
    assert (list(shown.services), shown.status) == (["account-service"], "blocked")


def test_a_service_event_is_sent_only_for_a_followed_service():
    every = ["ScanFailed", "ManifestCommitted", "StageFailed"]

    assert route(events=every, services=["account-service"]).select(scan_failed()) is not None
    assert route(events=every, services=["user-service"]).select(scan_failed()) is None


def test_a_failure_of_no_service_in_particular_is_not_sent_to_a_channel_following_services():
    event = stage_failed(service=None)

    assert route(events=["StageFailed"]).select(event) is event
    assert route(events=["StageFailed"], services=["user-service"]).select(event) is None


# --- outcomes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "taken"),
    [
        (["blocked"], True),  # the run's status
        (["succeeded"], True),  # one of its services
        (["failed"], False),
        (["failed", "blocked"], True),
    ],
)
def test_a_run_summary_is_sent_when_the_run_or_one_of_its_services_has_a_wanted_outcome(
    outcomes, taken
):
    assert (route(outcomes=outcomes).select(mixed_run()) is not None) is taken


def test_outcomes_apply_to_the_followed_services_only():
    only_user = route(services=["user-service"], outcomes=["blocked"])

    assert only_user.select(mixed_run()) is None


def test_an_outcome_unknown_to_the_notifier_is_routed_like_any_other():
    held = route(outcomes=["held"])

    assert held.select(held_run()) is not None
    assert held.select(mixed_run()) is None


@pytest.mark.parametrize(
    ("event", "outcome"),
    [(manifest_committed(), "succeeded"), (scan_failed(), "blocked"), (stage_failed(), "failed")],
    ids=["ManifestCommitted", "ScanFailed", "StageFailed"],
)
def test_a_service_event_has_the_outcome_its_webhook_status_names(event, outcome):
    every = ["ScanFailed", "ManifestCommitted", "StageFailed"]

    assert route(events=every, outcomes=[outcome]).select(event) is event
    assert route(events=every, outcomes=["held"]).select(event) is None


# --- environments --------------------------------------------------------------------------


def test_a_channel_naming_environments_takes_only_events_in_one_of_them():
    production = route(environments=["production"], events=None)

    for event in (mixed_run(), manifest_committed(), scan_failed(), stage_failed()):
        assert production.select(event, "production") is event
        assert production.select(event, "staging") is None


def test_an_event_in_no_known_environment_reaches_only_channels_naming_none():
    production = route(environments=["production"])
    default = route()

    assert production.select(mixed_run()) is None  # a project without environments, say
    assert default.select(mixed_run()) is not None
    assert default.select(mixed_run(), "staging") is not None


def test_a_channel_may_follow_several_environments_with_its_other_filters():
    problems = route(environments=["staging", "qa"], outcomes=["blocked"], services=["acc*"])

    assert problems.select(mixed_run(), "qa") is not None
    assert problems.select(mixed_run(), "production") is None
    assert problems.select(run_completed(), "staging") is None  # succeeded: not followed


@pytest.mark.parametrize(
    ("environments", "problem"),
    [([], "at least 1 item"), (["Production"], "DNS label"), (["prod uction"], "DNS label")],
)
def test_a_channel_s_environments_are_environment_names_and_never_an_empty_list(
    environments, problem
):
    with pytest.raises(ValidationError, match=problem):
        route(environments=environments)


# --- the sent marker -----------------------------------------------------------------------


def test_a_run_summary_is_marked_per_run_channel_and_outcome_whatever_event_carries_it():
    first, again = run_completed("succeeded"), run_completed("succeeded")
    failed = run_completed("failed", **{"user-service": account_blocked()})

    assert first.event_id != again.event_id
    assert sent_key(first, "slack-1") == sent_key(again, "slack-1")
    assert sent_key(first, "slack-1") == f"shipline:notified:{RUN}:slack-1:succeeded"
    assert sent_key(failed, "slack-1") != sent_key(first, "slack-1")
    assert sent_key(first, "email-2") != sent_key(first, "slack-1")


def test_other_events_are_marked_per_event_and_channel():
    event = scan_failed()

    assert sent_key(event, "webhook-0") == f"shipline:sent:{event.event_id}:webhook-0"
