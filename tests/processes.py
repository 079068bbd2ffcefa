"""What the deployment and fault tests add to lib/processes.py: the environment a deployed
process gets, pointed at the test database, and the commands an operator runs in it. A test that
needs another broker runs the command in a process of its own with that broker's URL, so the
test process's Celery app is never re-pointed."""

import json
import os
import subprocess

from django.db import connection

from lib.processes import BIN, ROOT


def run(args, env, timeout=120):
    """Run a command to its end in its own process; a failure shows what it printed."""
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def manage(env, *args):
    """`manage.py ARGS` in a process with this environment, as an operator runs it."""
    return run([str(BIN / "python"), "manage.py", *args], env)


def send_task(env, name, *args):
    """Send the task NAME with these arguments through env's broker (`celery call`)."""
    return run([str(BIN / "celery"), "-A", "config", "call", name, "--args", json.dumps(args)], env)


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
