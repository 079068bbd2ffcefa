"""/healthz for monitoring systems: 200 when all parts are fine, 503 when one is not. Anyone sees
only ok or fail; staff and callers with the health token see which part fails and why."""

import re
import time

import pytest
from django.test import override_settings

from config.celery import app as celery_app
from lib.processes import wait_until
from monitoring import health, tasks

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TOKEN = "health-token-for-tests"


@pytest.fixture
def monitoring_system(client, settings):
    """The caller a monitoring system is: no sign-in, the health token in its header."""
    settings.HEPWATCH_HEALTH_TOKEN = TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


@pytest.mark.worker
def test_healthz_is_ok_once_the_worker_has_run_the_heartbeat(
    monitoring_system, celery_worker_thread
):
    client = monitoring_system
    health.redis_client().delete(health.HEARTBEAT_KEY)
    assert client.get("/healthz").status_code == 503
    tasks.heartbeat.delay()
    assert wait_until(lambda: client.get("/healthz").status_code == 200)
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"]["vendor"] == "postgresql"
    assert body["celery_worker"]["last_heartbeat_seconds_ago"] < 60


def test_healthz_names_a_stale_heartbeat(monitoring_system):
    client = monitoring_system
    health.redis_client().set(health.HEARTBEAT_KEY, repr(time.time() - 3600))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["celery_worker"]
    # An hour, give or take the second a busy machine takes to answer.
    assert re.search(r"\b360[01] s ago", response.json()["celery_worker"]["error"])


def test_healthz_names_redis_when_it_is_unreachable(monitoring_system):
    client = monitoring_system
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis", "celery_worker"]
    assert response.json()["database"]["ok"] is True


def test_healthz_tells_an_anonymous_caller_only_ok_or_fail(client, settings):
    settings.HEPWATCH_HEALTH_TOKEN = TOKEN
    health.redis_client().set(health.HEARTBEAT_KEY, repr(time.time()))
    assert client.get("/healthz").json() == {"status": "ok"}
    health.redis_client().set(health.HEARTBEAT_KEY, repr(time.time() - 3600))
    response = client.get("/healthz", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert response.status_code == 503 and response.json() == {"status": "fail"}


def test_healthz_details_need_the_token_or_staff(monitoring_system, client, django_user_model):
    health.redis_client().set(health.HEARTBEAT_KEY, repr(time.time()))
    body = monitoring_system.get("/healthz").json()
    assert set(body) == {"status", "failing", "database", "redis", "celery_worker"}
    assert body["database"]["vendor"] == "postgresql"
    del client.defaults["HTTP_AUTHORIZATION"]
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    assert client.get("/healthz").json()["database"]["vendor"] == "postgresql"


def test_healthz_without_a_configured_token_gives_no_details_to_an_empty_one(client, settings):
    settings.HEPWATCH_HEALTH_TOKEN = ""
    health.redis_client().set(health.HEARTBEAT_KEY, repr(time.time()))
    assert client.get("/healthz", HTTP_AUTHORIZATION="Bearer ").json() == {"status": "ok"}


def test_beat_schedules_the_heartbeat_sweep_time_rules_and_the_exports_cleanup():
    schedule = {
        entry["task"]: entry["schedule"] for entry in celery_app.conf.beat_schedule.values()
    }
    assert schedule == {
        "monitoring.tasks.heartbeat": 60.0,
        "monitoring.tasks.sweep_unevaluated": 300.0,
        "monitoring.tasks.evaluate_time_rules": 3600.0,
        "monitoring.tasks.delete_expired_exports": 3600.0,
    }
