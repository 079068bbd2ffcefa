"""What the deployment and fault tests add to lib/processes.py: the environment a deployed
process gets, pointed at the test database, and the project's Celery app pointed at another
broker."""

import os

from django.db import connection


def use_broker(url):
    """Point the project's Celery app at another broker, dropping its pooled connections."""
    from config.celery import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def app_environment(redis_url, **extra):
    """The environment a deployed process gets, pointed at the test database."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-only-secret",
        "HEPWATCH_VISIBILITY_TIMEOUT": "3",
        "HEPWATCH_RESTORE_INTERVAL": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env
