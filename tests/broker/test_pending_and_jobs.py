"""Held writes (performed once after approval, never after expiry) and background job checks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from broker.models import BackgroundJob
from broker.services import background_jobs_recheck, pending_action_perform
from tests.broker.conftest import make_world


@pytest.fixture
def eager():
    from config.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


def hold_issue(world):
    r = world.post("github/repos/Octo/Hello/issues", {"title": "Held", "body": "text"})
    assert r.status_code == 202
    return r.json()["pending_action"]


def test_approved_action_is_performed_once(world, eager, django_capture_on_commit_callbacks):
    from consent.models import PendingAction
    from consent.services import pending_action_approve

    pending = hold_issue(world)
    action = PendingAction.objects.get(pk=pending["id"])
    assert action.resource == "octo/hello" and action.params == {"owner": "octo", "repo": "hello"}
    assert (
        world.get(pending["status_url"].removeprefix("/api/v1/")).json()["pending_action"]["status"]
        == "pending"
    )
    with django_capture_on_commit_callbacks(execute=True):
        pending_action_approve(action_id=action.pk, user=world.user)
    assert len(world.fake.issues) == 1
    # The signal firing again, or the worker retrying, performs nothing more.
    assert pending_action_perform(action_id=action.pk) == "succeeded"
    from broker.receivers import on_pending_action_approved

    with django_capture_on_commit_callbacks(execute=True):
        on_pending_action_approved(sender=None, pending_action=action)
    assert len(world.fake.issues) == 1
    r = world.get(pending["status_url"].removeprefix("/api/v1/"))
    body = r.json()["pending_action"]
    assert body["status"] == "succeeded"
    assert body["result"]["upstream_status"] == 201
    assert body["result"]["data"]["title"] == "Held"


def test_claimed_action_is_not_performed_again(world):
    from consent.models import PendingAction

    pending = hold_issue(world)
    PendingAction.objects.filter(pk=pending["id"]).update(
        status="performing", executed_at=timezone.now()
    )
    assert pending_action_perform(action_id=pending["id"]) == "performing"
    assert not world.fake.issues


def test_unapproved_or_rejected_action_is_never_performed(world):
    from consent.models import PendingAction

    pending = hold_issue(world)
    assert pending_action_perform(action_id=pending["id"]) == "pending"
    PendingAction.objects.filter(pk=pending["id"]).update(status="rejected")
    assert pending_action_perform(action_id=pending["id"]) == "rejected"
    assert pending_action_perform(action_id=10**9) == "missing"
    assert not world.fake.issues


def test_expired_action_is_never_performed(world):
    from consent.models import PendingAction

    pending = hold_issue(world)
    PendingAction.objects.filter(pk=pending["id"]).update(
        status="approved", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert pending_action_perform(action_id=pending["id"]) == "expired"
    assert not world.fake.issues
    r = world.get(pending["status_url"].removeprefix("/api/v1/"))
    assert r.json()["pending_action"]["status"] == "expired"


def test_pending_shown_expired_after_its_time(world):
    from consent.models import PendingAction

    pending = hold_issue(world)
    PendingAction.objects.filter(pk=pending["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    r = world.get(pending["status_url"].removeprefix("/api/v1/"))
    assert r.json()["pending_action"]["status"] == "expired"


def test_action_fails_if_grant_lost_the_resource_before_it_ran(world):
    from consent.models import PendingAction

    pending = hold_issue(world)
    world.grant.resources = {**world.grant.resources, "services.github.repositories.write": []}
    world.grant.save()
    PendingAction.objects.filter(pk=pending["id"]).update(status="approved")
    assert pending_action_perform(action_id=pending["id"]) == "failed"
    action = PendingAction.objects.get(pk=pending["id"])
    assert action.error_code == "resource_not_granted" and not world.fake.issues


def test_action_upstream_failure_is_recorded(world):
    from consent.models import PendingAction

    pending = hold_issue(world)
    PendingAction.objects.filter(pk=pending["id"]).update(status="approved")
    world.fake.fail_next = [(500, {}, b"")]
    assert pending_action_perform(action_id=pending["id"]) == "failed"
    body = world.get(pending["status_url"].removeprefix("/api/v1/")).json()["pending_action"]
    assert body["result"] == {"upstream_status": 500, "data": None, "error": "upstream_error"}


# --- background jobs --------------------------------------------------------------------------


def check(world, token, grant=None, scopes=("services.github.repositories.read",)):
    return world.post(
        "jobs/check",
        {"job": "nightly-sync", "grant": grant or world.grant.pk, "scopes": list(scopes)},
        token=token,
    )


def test_job_check_allows_and_registers(world):
    r = check(world, world.cc_token())
    assert r.status_code == 200
    assert r.json()["allowed"] is True and r.json()["decision"] == "allow"
    job = BackgroundJob.objects.get(grant=world.grant, job_id="nightly-sync")
    assert job.status == "allowed"


def test_job_check_denies_without_background(world):
    world.grant.scopes = [s for s in world.grant.scopes if s != "agents.jobs.background"]
    world.grant.save()
    r = check(world, world.cc_token())
    assert r.json()["allowed"] is False and "agents.jobs.background" in r.json()["reason"]


def test_job_check_denies_scopes_outside_grant(world):
    r = check(world, world.cc_token(), scopes=["agents.actions.unattended_writes"])
    assert r.json()["allowed"] is False


def test_job_check_needs_client_credentials(world):
    r = check(world, world.token())
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"job": "j"},
        {"job": "j", "grant": "x", "scopes": []},
        {"job": "", "grant": 1, "scopes": []},
        {"job": "j", "grant": 1, "scopes": "a"},
    ],
)
def test_job_check_bad_body(world, body):
    r = world.post("jobs/check", body, token=world.cc_token())
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


def test_recheck_marks_jobs_that_lost_permission(world, client, fake):
    from audit.models import AuditEvent

    other = make_world(fake, client)
    check(world, world.cc_token())
    check(other, other.cc_token())
    assert background_jobs_recheck() == 0
    world.grant.revoked_at = timezone.now()
    world.grant.save()
    assert background_jobs_recheck() == 1
    job = BackgroundJob.objects.get(grant=world.grant)
    assert job.status == "denied" and job.reason == "the grant was revoked"
    assert BackgroundJob.objects.get(grant=other.grant).status == "allowed"
    assert AuditEvent.objects.filter(action="broker.job_lost_permission").count() == 1
    assert background_jobs_recheck() == 0  # marked once


def test_beat_schedule_names_the_recheck_task(settings):
    from broker.tasks import recheck_background_jobs

    entry = settings.CELERY_BEAT_SCHEDULE["broker-recheck-background-jobs"]
    assert entry["task"] == recheck_background_jobs.name


# --- audit and query counts -------------------------------------------------------------------


def test_every_call_is_audited(world):
    from audit.models import AuditEvent

    world.get("github/repos/octo/hello")
    world.get("github/repos/octo/secret")
    ok, denied = AuditEvent.objects.filter(action="broker.call").order_by("id")
    assert (ok.outcome, ok.resource, ok.scope, ok.service) == (
        "success", "octo/hello", "services.github.repositories.read", "github"
    )  # fmt: skip
    assert ok.metadata["operation"] == "github.repos.get"
    assert ok.metadata["upstream_status"] == 200 and "latency_ms" in ok.metadata
    assert ok.background is False and ok.grant_id == world.grant.pk and ok.app_id == world.app.pk
    assert ok.subject_user_id == world.user.pk
    assert (denied.outcome, denied.reason) == ("denied", "resource_not_granted")
    world.grant.refresh_from_db()
    assert world.grant.last_used_at is not None


def test_queries_per_call_stay_constant(world, client, fake, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        token = world.token()
        with CaptureQueriesContext(connection) as ctx:
            assert world.get("github/repos", token=token).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    # More grants, more selected resources, more audit rows.
    for _ in range(5):
        make_world(fake, client)
    world.grant.resources = {
        **world.grant.resources,
        "services.github.repositories.read": [{"id": f"octo/r{i}", "label": ""} for i in range(300)]
        + [{"id": "octo/hello", "label": ""}],
    }
    world.grant.save()
    for _ in range(20):
        world.get("github/repos/octo/hello")
    after = count()
    assert after <= before
    token = world.token()
    with django_assert_max_num_queries(before):
        assert world.get("github/repos/octo/hello", token=token).status_code == 200


def test_token_and_grant_are_one_query_and_last_used_is_throttled(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token = world.token()
    world.get("github/repos/octo/hello", token=token)  # marks grant and connection used
    with CaptureQueriesContext(connection) as ctx:
        assert world.get("github/repos/octo/hello", token=token).status_code == 200
    sqls = [q["sql"] for q in ctx.captured_queries]
    grant_reads = [s for s in sqls if "consent_grant" in s]
    assert len(grant_reads) == 1 and "oauth2_provider_accesstoken" in grant_reads[0]
    # Used a moment ago: neither the grant nor the connection is written again.
    assert not [s for s in sqls if "consent_grant" in s and s.startswith("UPDATE")]
    assert not [s for s in sqls if "connections_connection" in s and s.startswith("UPDATE")]
    stale = timezone.now() - timedelta(minutes=5)
    type(world.grant).objects.filter(pk=world.grant.pk).update(last_used_at=stale)
    assert world.get("github/repos/octo/hello", token=token).status_code == 200
    world.grant.refresh_from_db()
    assert world.grant.last_used_at > stale  # (the vault marks the connection: tests/connections)


def test_the_joined_grant_is_the_token_owners_for_this_app(world, fake, client):
    """The grant loaded with the token is (token's person, token's app): another person's grant
    for the same app, or the same person's grant for another app, is never picked up."""
    from consent.models import Grant

    same_person_other_app = make_world(fake, client, user=world.user)
    other_person_same_app = make_world(fake, client, app=world.app)
    token = world.token()
    Grant.objects.filter(pk=world.grant.pk).delete()
    r = world.get("github/repos/octo/hello", token=token)
    assert r.status_code in {401, 403}
    assert r.json()["error"]["code"] in {"invalid_token", "grant_revoked"}
    assert same_person_other_app.get("github/repos/octo/hello").status_code == 200
    assert other_person_same_app.get("github/repos/octo/hello").status_code == 200


def test_the_token_query_loads_what_the_orm_loads(world):
    import hashlib

    from oauth2_provider.models import get_access_token_model

    from broker.selectors import token_row
    from consent.models import Grant

    def both(raw):
        checksum = hashlib.sha256(raw.encode()).hexdigest()
        row = token_row(checksum)
        found = get_access_token_model().objects.filter(token_checksum=checksum).first()
        return row, found

    def fields(obj, names):
        return {name: getattr(obj, name) for name in names}

    for raw in (world.token(), world.cc_token()):
        row, queried = both(raw)
        assert row.token == fields(queried, row.token)
        assert row.user == fields(queried.user, row.user) if queried.user else row.user is None
        assert row.app == fields(queried.application.app, row.app)
        expected = Grant.objects.filter(user=queried.user, app=queried.application.app).first()
        assert (row.grant is None) == (expected is None)
        if expected is not None:
            assert row.grant == fields(expected, row.grant) and row.grant["id"] == world.grant.pk
            assert row.grant["resources"] == world.grant.resources  # JSON decoded, not a string
    assert both("no-such-token") == (None, None)
