"""Shared fixtures. The suite runs against PostgreSQL and Redis (make test sets them up); it
refuses to run on SQLite unless HEPWATCH_ALLOW_SQLITE=1, so a green run means the real stack."""

import os

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402

from config.celery import app as celery_app  # noqa: E402

DB_FIXTURES = {"db", "transactional_db", "live_server"}


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine and os.environ.get("HEPWATCH_ALLOW_SQLITE") != "1":
        raise pytest.UsageError(
            f"The tests need PostgreSQL, but the database engine is {engine}. Run `make test`, "
            "or set DATABASE_URL (HEPWATCH_ALLOW_SQLITE=1 to run on SQLite anyway)."
        )
    # Hashing stays real but cheap: sign-ins and e-signatures are tested by the hundred.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def data_from_migrations(request, django_db_blocker):
    """Every test that uses the database finds what the migrations put there, even after a
    transactional or live-server test has flushed it (live_server never restores it)."""
    uses_db = request.node.get_closest_marker("django_db") or DB_FIXTURES & set(
        request.fixturenames
    )
    if not uses_db:
        return
    request.getfixturevalue("django_db_setup")
    from subjects import defaults

    with django_db_blocker.unblock():
        defaults.ensure_default_study()
        defaults.ensure_groups()


@pytest.fixture(autouse=True)
def eager_celery(request):
    """Tasks run in-process unless a test is marked `worker` and talks to the real broker."""
    eager = request.node.get_closest_marker("worker") is None
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(scope="session")
def celery_worker_thread():
    """A real Celery worker (solo pool, in a thread) consuming from the real Redis broker."""
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: the worker tests need the real Redis broker")
    from celery.contrib.testing.worker import start_worker

    celery_app.control.purge()
    with start_worker(
        celery_app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        shutdown_timeout=10,
    ) as worker:
        yield worker


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium"}


@pytest.fixture
def client():
    """pytest-django's client, whose force_login also passes the second factor of reviewers,
    unblinded users and staff (tests/world.py SignInClient)."""
    from .world import SignInClient

    return SignInClient()


@pytest.fixture
def world(django_capture_on_commit_callbacks):
    """The small study of tests/world.py (build_world), made through the services."""
    from .world import build_world

    return build_world(django_capture_on_commit_callbacks)


@pytest.fixture(autouse=True)
def source_named_static_files_for_the_browser(request):
    """The live server serves static files by their source names (the staticfiles finders), not
    the hashed names of the collected manifest that production's WhiteNoise serves (tested in
    tests/test_static.py): browser tests ask for source names."""
    if request.node.get_closest_marker("browser") is None:
        yield
        return
    settings_fixture = request.getfixturevalue("settings")
    settings_fixture.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
    yield
