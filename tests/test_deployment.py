"""The production stack: docker-compose.yml parsed (CI has no Docker engine), the same processes
started directly, and the production settings passing `check --deploy`."""

import json
import subprocess
import sys
import urllib.request

import pytest
import yaml

from lib.processes import (
    ROOT,
    RedisServer,
    beat_args,
    gunicorn_args,
    port_open,
    process,
    spare_port,
    wait_until,
    worker_args,
)

from .processes import app_environment

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_web_worker_beat_postgres_and_redis_with_health_checks_and_restarts():
    services = COMPOSE["services"]
    assert set(services) == {"web", "worker", "beat", "db", "redis"}
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert "healthcheck" in service, name
    assert "gunicorn config.wsgi" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_compose_keeps_data_in_named_volumes():
    assert set(COMPOSE["volumes"]) == {"pgdata", "redisdata", "beatdata"}
    assert "pgdata:/var/lib/postgresql/data" in COMPOSE["services"]["db"]["volumes"]
    assert "--appendonly" in COMPOSE["services"]["redis"]["command"]


def test_app_services_wait_for_healthy_database_and_redis():
    for name in ("web", "worker", "beat"):
        depends = COMPOSE["services"][name]["depends_on"]
        assert depends == {
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }


def test_production_settings_pass_check_deploy():
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "k" * 20 + "Zq8#x1Lw0pR$3vT6yU9iO2aS5dF7gH4jK",
        "DATABASE_URL": "postgres://app:app@127.0.0.1:5432/hepwatch",
        "ALLOWED_HOSTS": "hepwatch.example.org",
        "HEPWATCH_HTTPS": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://app:app@127.0.0.1/hepwatch"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_gunicorn_worker_and_beat_started_directly_report_healthy(tmp_path):
    redis = RedisServer().start()
    port = spare_port()
    env = app_environment(
        redis.url,
        HEPWATCH_HEARTBEAT_SECONDS="1",
        LOG_FORMAT="json",
        HEPWATCH_HEALTH_TOKEN="deploy-token",
    )
    try:
        with (
            process(gunicorn_args(port), env, tmp_path / "web.log"),
            process(worker_args("deploy"), env, tmp_path / "worker.log"),
            process(beat_args(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
        ):
            assert wait_until(lambda: port_open(port), 20), (tmp_path / "web.log").read_text()

            def health():
                try:
                    asking = urllib.request.Request(
                        f"http://127.0.0.1:{port}/healthz",
                        headers={"Authorization": "Bearer deploy-token"},
                    )
                    with urllib.request.urlopen(asking, timeout=2) as r:
                        return json.load(r)
                except OSError:
                    return None

            worker_log = tmp_path / "worker.log"
            assert wait_until(lambda: health() is not None, 40), worker_log.read_text()[-2000:]
            body = health()
            assert body["status"] == "ok" and body["celery_worker"]["ok"]
            assert body["database"]["vendor"] == "postgresql"
    finally:
        redis.stop()


def test_json_log_lines_carry_time_level_logger_and_message():
    import logging

    from config.logformat import JsonFormatter

    record = logging.LogRecord("monitoring", logging.WARNING, "x.py", 1, "queued %d", (3,), None)
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "monitoring", "queued 3")
    assert line["time"].endswith("+00:00")
