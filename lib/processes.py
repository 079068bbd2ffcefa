"""hepwatch's processes for the tests and the benchmark: gunicorn, Celery workers and beat as the
docker-compose services start them, a private redis-server, spare ports. The shared Redis and
PostgreSQL are never stopped."""

import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def spare_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, seconds=20.0, every=0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class RedisServer:
    def __init__(self, port=None):
        self.port = port or spare_port()
        self.process = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_until(lambda: port_open(self.port), 10), "private redis-server did not start"
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        assert wait_until(lambda: not port_open(self.port), 10)


@contextmanager
def process(args, env, log_path):
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def worker_args(name=None, *, pool="solo", concurrency=1, loglevel="info"):
    """A Celery worker: by default one solo process named `name`, as the tests want it; the
    benchmark asks for the compose service's prefork pool."""
    args = [str(BIN / "celery"), "-A", "config", "worker"]
    args += ["--pool", pool] if pool else []
    args += ["--concurrency", str(concurrency), "--loglevel", loglevel]
    args += ["--without-gossip", "--without-mingle"]
    return args + (["-n", f"{name}@%h"] if name else [])


def beat_args(schedule_path):
    return [
        str(BIN / "celery"),
        "-A",
        "config",
        "beat",
        "--loglevel",
        "info",
        "--schedule",
        str(schedule_path),
    ]


def gunicorn_args(port, *, access_log=True):
    args = [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    return args + (["--access-logfile", "-"] if access_log else [])
