"""/healthz: is the database reachable, is Redis, and has the Celery worker run beat's heartbeat
recently? JSON, 200 when all are fine, 503 when a part is not. Anyone gets `{"status": "ok"}` or
`{"status": "fail"}`; staff, and callers with the HEPWATCH_HEALTH_TOKEN, also get which part
fails and why (database vendor, broker mode, heartbeat age)."""

import hmac
import time

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

HEARTBEAT_KEY = "hepwatch:worker-heartbeat"
HEARTBEAT_EVERY = 60  # seconds, beat's schedule
HEARTBEAT_STALE_AFTER = 5 * HEARTBEAT_EVERY


def redis_client():
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def record_heartbeat():
    """Called by the worker when beat's heartbeat task reaches it."""
    if settings.REDIS_URL:
        redis_client().set(HEARTBEAT_KEY, repr(time.time()))


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is the answer
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
    return {"ok": True, "vendor": connection.vendor}


def check_redis_and_worker():
    if not settings.REDIS_URL:
        eager = {"ok": True, "mode": "eager (no REDIS_URL): tasks run in-process"}
        return eager, eager
    try:
        client = redis_client()
        client.ping()
        raw = client.get(HEARTBEAT_KEY)
    except Exception as exc:
        down = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return down, {"ok": False, "error": "unknown: Redis is unreachable"}
    if raw is None:
        return {"ok": True}, {"ok": False, "error": "no heartbeat yet from the Celery worker"}
    age = time.time() - float(raw)
    worker = {"ok": age <= HEARTBEAT_STALE_AFTER, "last_heartbeat_seconds_ago": round(age, 1)}
    if not worker["ok"]:
        worker["error"] = f"last heartbeat {round(age)} s ago (worker or beat down?)"
    return {"ok": True}, worker


@never_cache
@require_GET
def healthz(request):
    database = check_database()
    redis_status, worker = check_redis_and_worker()
    parts = {"database": database, "redis": redis_status, "celery_worker": worker}
    failing = [name for name, part in parts.items() if not part["ok"]]
    body = {"status": "ok" if not failing else "fail"}
    if may_see_details(request):
        body.update(failing=failing, **parts)
    return JsonResponse(body, status=200 if not failing else 503)


def may_see_details(request):
    if request.user.is_staff:
        return True
    token = settings.HEPWATCH_HEALTH_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())
