"""/healthz for monitoring systems: 200 when all parts are fine, 503 naming the failing one."""

import time

import pytest
from django.test import override_settings

from config.celery import app as celery_app
from monitoring import health, tasks

from .processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.mark.worker
def test_healthz_is_ok_once_the_worker_has_run_the_heartbeat(client, celery_worker_thread):
    health.redis_client().delete(health.HEARTBEAT_KEY)
    assert client.get("/healthz").status_code == 503
    tasks.heartbeat.delay()
    assert wait_until(lambda: client.get("/healthz").status_code == 200)
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"]["vendor"] == "postgresql"
    assert body["celery_worker"]["last_heartbeat_seconds_ago"] < 60


def test_healthz_names_a_stale_heartbeat(client):
    health.redis_client().set(health.HEARTBEAT_KEY, repr(time.time() - 3600))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["celery_worker"]
    assert "3600 s ago" in response.json()["celery_worker"]["error"]


def test_healthz_names_redis_when_it_is_unreachable(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis", "celery_worker"]
    assert response.json()["database"]["ok"] is True


def test_healthz_needs_no_login_and_reveals_no_data(client):
    body = client.get("/healthz").json()
    assert set(body) == {"status", "failing", "database", "redis", "celery_worker"}


def test_beat_schedules_the_heartbeat_sweep_and_time_rules():
    schedule = {
        entry["task"]: entry["schedule"] for entry in celery_app.conf.beat_schedule.values()
    }
    assert schedule == {
        "monitoring.tasks.heartbeat": 60.0,
        "monitoring.tasks.sweep_unevaluated": 300.0,
        "monitoring.tasks.evaluate_time_rules": 3600.0,
    }
