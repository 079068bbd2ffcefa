#!/usr/bin/env python
"""hepwatch benchmark: the real stack (PostgreSQL, Redis, a Celery worker, gunicorn), a synthetic
study, and each figure beside its physical limit measured in the same run.

    .venv/bin/python bench/run.py            # the full run (2,000 subjects; a few minutes)
    .venv/bin/python bench/run.py --quick    # under a minute

It wipes and rebuilds the database named by --database-url (default hepwatch_bench), uses Redis
database 12, prints a table and one JSON object, and writes bench/results/latest.json.

Over 400 lines on purpose: main() is the run in the order it measures, each figure beside the
limit it is compared with; the processes it starts are lib/processes.py's.
"""

import argparse
import contextlib
import csv
import http.cookiejar
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-Password-2026"
# Two years ago, so that the full study (100 weekly doses) lies in the past: no import takes
# a time later than now.
START = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(weeks=110)

FULL = dict(subjects=2000, draws=25, entries=200, page_draws=300, samples=20, load_seconds=10)
QUICK = dict(subjects=150, draws=25, entries=20, page_draws=300, samples=5, load_seconds=2)
# The bare view: /healthz, the smallest view of the app (one SELECT 1 and one Redis GET).
BARE_VIEW = "/healthz"
# The alerts queue as a reviewer opens it most: open high alerts.
QUEUE = "/alerts/?severity=high&status=open"
CYCLE = ["0.6", "1.4", "0.7", "3.4", "3.2", "5.1", "2.0", "0.8"]


def percentile(values, q):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# ---- the synthetic study ------------------------------------------------------------------


def write_study(folder: Path, n_subjects: int, n_draws: int, rng: random.Random):
    """Subjects, weekly doses and two labs files of n_draws ALT+AST draws each per subject;
    about a third of the subjects cycle through elevations so the queue fills up."""
    subjects = folder / "subjects.csv"
    doses = folder / "doses.csv"
    labs = [folder / "labs1.csv", folder / "labs2.csv"]
    with subjects.open("w", newline="") as s, doses.open("w", newline="") as d:
        sw, dw = csv.writer(s), csv.writer(d)
        sw.writerow(["subject_id", "site", "sex", "birth_date", "arm", "enrolled_on"])
        dw.writerow(["subject_id", "administered_at", "dose_mg"])
        for i in range(n_subjects):
            sid = f"B-{i:05}"
            sw.writerow(
                [
                    sid,
                    f"S{i % 20:02}",
                    "MF"[i % 2],
                    "1970-01-01",
                    ("standard", "reduced")[i % 2],
                    (START - timedelta(days=7)).date().isoformat(),
                ]
            )
            for week in range(2 * n_draws):
                dw.writerow([sid, (START + timedelta(weeks=week, hours=2)).isoformat(), 200])
    for part, path in enumerate(labs):
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["subject_id", "collected_at", "test", "value", "unit", "uln"])
            for i in range(n_subjects):
                active = i % 3 == 0
                for k in range(n_draws):
                    week = part * n_draws + k
                    multiple = CYCLE[week % len(CYCLE)] if active else "0.7"
                    at = (START + timedelta(weeks=week)).isoformat()
                    alt = round(float(multiple) * 41 * (33 / 41 if i % 2 else 1), 2)
                    w.writerow([f"B-{i:05}", at, "ALT", alt, "U/L", ""])
                    w.writerow(
                        [f"B-{i:05}", at, "AST", round(alt * 0.6 + rng.random(), 2), "U/L", ""]
                    )
    return subjects, doses, labs


def write_page_subject(folder: Path, name: str, n_draws: int):
    subjects = folder / f"{name}-subject.csv"
    labs = folder / f"{name}-labs.csv"
    subjects.write_text(
        "subject_id,site,sex,birth_date,arm,enrolled_on\n"
        f"{name},S00,M,1970-01-01,standard,2020-01-01\n"
    )
    with labs.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subject_id", "collected_at", "test", "value", "unit", "uln"])
        for k in range(n_draws):
            at = (START - timedelta(weeks=n_draws - k)).isoformat()
            for test, value in (("ALT", 30 + k % 200), ("AST", 25), ("TBIL", "0.8")):
                w.writerow([name, at, test, value, "U/L" if test != "TBIL" else "mg/dL", ""])
    return subjects, labs


# ---- the stack ----------------------------------------------------------------------------


def recreate_database(url):
    import psycopg

    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def wait_evaluated(timeout=600):
    from django.db.models import F

    from monitoring.models import SubjectSafetyState

    deadline = time.monotonic() + timeout
    while SubjectSafetyState.objects.filter(evaluated_version__lt=F("data_version")).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("evaluation did not finish")
        time.sleep(0.05)


class Session:
    """A logged-in browser-like HTTP session against the real server."""

    def __init__(self, base, username):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.get("/login/")
        self.post("/login/", {"username": username, "password": PASSWORD})

    def csrf(self):
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, path):
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:  # a 503 from /healthz is still an answer
            error.read()
            return error.code

    def post(self, path, data):
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.csrf()}).encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=30) as response:
            response.read()
            return response.status


def timed(fn, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def load(session, path, clients, seconds):
    """`clients` threads share one signed-in session and hit `path` for `seconds`; returns
    (requests per second, p95 seconds)."""
    sessions = [session] * clients
    latencies, lock = [], threading.Lock()
    stop_at = time.monotonic() + seconds

    def run(session):
        mine = []
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            session.get(path)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return len(latencies) / elapsed, percentile(latencies, 95)


# ---- the run ------------------------------------------------------------------------------


def time_pages(samples):
    """Server time of the subject page, the alerts queue and the dashboard, in this process
    (Django's test client: no network), printed as JSON."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from monitoring.models import Alert, LabDraw
    from subjects.models import Subject

    client = Client()
    client.force_login(User.objects.get(username="bench-reviewer"))

    def page(url):
        client.get(url).close()

    def queries(url):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    def median_ms(url):
        for _ in range(3):  # a server worker has served the page before
            page(url)
        return round(statistics.median(timed(lambda: page(url), samples)) * 1000, 1)

    bare_ms = median_ms(BARE_VIEW)
    small = Subject.objects.get(subject_id="PAGE-30").pk
    big = Subject.objects.get(subject_id="PAGE-300").pk
    figures = {
        "subject_page": {
            "draws": LabDraw.objects.filter(subject_id=big).count(),
            "median_ms": (ms := median_ms(f"/subjects/{big}/")),
            "ratio_to_bare_view": round(ms / bare_ms, 1),
            "queries_with_30_draws": queries(f"/subjects/{small}/"),
            "queries_with_300_draws": queries(f"/subjects/{big}/"),
            "target": "<= 150 ms; queries do not grow with draws",
        },
        "alerts_queue": {
            "alerts": Alert.objects.count(),
            "median_ms": (ms := median_ms(QUEUE)),
            "ratio_to_bare_view": round(ms / bare_ms, 1),
            "queries": queries(QUEUE),
            "target": "<= 150 ms",
        },
        "dashboard": {
            "subjects": Subject.objects.count(),
            "median_ms": (ms := median_ms("/")),
            "ratio_to_bare_view": round(ms / bare_ms, 1),
            "queries": queries("/"),
            "target": "<= 200 ms",
        },
    }
    figures["bare_view_in_process_ms"] = bare_ms
    print(json.dumps(figures))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--pages", type=int, metavar="SAMPLES", help=argparse.SUPPRESS)
    parser.add_argument(
        "--database-url", default="postgres://app:app@127.0.0.1:5432/hepwatch_bench"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    options = parser.parse_args()
    size = QUICK if options.quick else FULL

    env = {
        **os.environ,
        "DATABASE_URL": options.database_url,
        "REDIS_URL": options.redis_url,
        "SECRET_KEY": "bench-only-secret",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    if options.pages:
        return time_pages(options.pages)
    recreate_database(options.database_url)

    import django

    django.setup()
    import redis
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection

    from config.celery import app as celery_app
    from lib.processes import gunicorn_args, process, spare_port, worker_args
    from monitoring import tasks
    from monitoring.models import Alert, LabDraw
    from subjects.models import Subject

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    redis.Redis.from_url(options.redis_url).flushdb()
    reviewer = User.objects.create_user("bench-reviewer", password=PASSWORD)
    reviewer.groups.add(Group.objects.get(name="safety_reviewer"))
    figures = {"machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]}}
    folder = Path(tempfile.mkdtemp(prefix="hepwatch-bench-"))
    logs = folder / "processes.log"
    stack = contextlib.ExitStack()
    # The compose service's worker: prefork, two processes.
    stack.enter_context(
        process(worker_args(pool=None, concurrency=2, loglevel="warning"), env, logs)
    )
    port = spare_port()
    stack.enter_context(process(gunicorn_args(port, access_log=False), env, logs))
    try:
        rng = random.Random(2026)
        subjects_csv, doses_csv, labs = write_study(folder, size["subjects"], size["draws"], rng)
        rows = size["subjects"] * size["draws"] * 2
        call_command("import_csv", subjects=str(subjects_csv), doses=str(doses_csv), verbosity=0)
        wait_evaluated()

        # Bulk import: a labs file of `rows` rows, evaluation (by the worker) included, against
        # PostgreSQL COPY of the same file: into an unlogged, unindexed temporary table (bytes
        # in), and into a logged table with the rows' natural key as a unique index (the least
        # it takes to keep the rows durably and find them again).
        columns = (
            "subject_id text, collected_at timestamptz, test text, value numeric, unit text, "
            "uln numeric"
        )
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE copy_bytes ({columns})")
            cursor.execute(f"DROP TABLE IF EXISTS copy_kept; CREATE TABLE copy_kept ({columns})")
            cursor.execute("CREATE UNIQUE INDEX ON copy_kept (subject_id, collected_at, test)")

        def copy_into(table):
            """The median of five COPYs (each into the emptied table): one lasts a tenth of a
            second, short enough for a neighbour's burst on a shared machine to double it."""
            times = []
            for _ in range(5):
                with connection.cursor() as cursor:
                    cursor.execute(f"TRUNCATE {table}")
                t0 = time.perf_counter()
                with connection.connection.cursor() as raw, open(labs[0], "rb") as f:
                    sql = f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"
                    with raw.copy(sql) as copy:
                        while chunk := f.read(1 << 16):
                            copy.write(chunk)
                times.append(time.perf_counter() - t0)
            return statistics.median(times)

        copy_bytes_s, copy_kept_s = copy_into("copy_bytes"), copy_into("copy_kept")
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE copy_kept; DROP TABLE copy_bytes")
        t0 = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            call_command("import_csv", labs=str(labs[0]), stdout=quiet)
        command_s = time.perf_counter() - t0
        wait_evaluated()
        import_s = time.perf_counter() - t0
        figures["bulk_import"] = {
            "rows": rows,
            "subjects": size["subjects"],
            "seconds": round(import_s, 2),
            "import_command_seconds": round(command_s, 2),
            "evaluation_seconds": round(import_s - command_s, 2),
            "copy_seconds": round(copy_bytes_s, 3),
            "ratio_to_copy": round(import_s / copy_bytes_s, 1),
            "copy_kept_seconds": round(copy_kept_s, 3),
            "ratio_to_copy_kept": round(import_s / copy_kept_s, 1),
            "target": "<= 60 s; ratio <= 10",
        }

        with open(os.devnull, "w") as quiet:
            call_command("import_csv", labs=str(labs[1]), stdout=quiet)
        wait_evaluated()

        # Re-evaluation of every subject, in-process (the `evaluate --all` command).
        t0 = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            call_command("evaluate", "--all", stdout=quiet)
        evaluate_s = time.perf_counter() - t0
        draws_each = LabDraw.objects.count() // max(1, Subject.objects.count())
        figures["re_evaluation"] = {
            "subjects": size["subjects"],
            "draws_per_subject": draws_each,
            "seconds": round(evaluate_s, 2),
            "subjects_per_second": round(size["subjects"] / evaluate_s),
            "target": ">= 200 subjects/s",
        }

        # Server time of pages (no network), in a fresh process as a server worker is: not in
        # this one, which holds everything it built. Vacuum and planner statistics first, as
        # autovacuum does within a minute of a bulk change (and not during the timings).
        for name, n in (("PAGE-30", 30), ("PAGE-300", size["page_draws"])):
            s_csv, l_csv = write_page_subject(folder, name, n)
            with open(os.devnull, "w") as quiet:
                call_command("import_csv", subjects=str(s_csv), labs=str(l_csv), stdout=quiet)
        wait_evaluated()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        pages = subprocess.run(
            [
                sys.executable,
                __file__,
                "--pages",
                str(size["samples"]),
                "--database-url",
                options.database_url,
                "--redis-url",
                options.redis_url,
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        figures.update(json.loads(pages.stdout))

        # Through the real server: entry -> alert latency, and throughput under load.
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/login/", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        coordinator = User.objects.create_user("bench-coordinator", password=PASSWORD)
        coordinator.groups.add(Group.objects.get(name="coordinator"))
        for site in Subject.objects.values_list("site", flat=True).distinct():
            coordinator.sites.add(site)
        session = Session(base, "bench-coordinator")
        tasks.heartbeat.delay()  # the worker answers: /healthz reports healthy
        r = redis.Redis.from_url(options.redis_url)
        redis_rtt = timed(r.ping, 200)
        bare = timed(lambda: session.get(BARE_VIEW), 200)
        latencies = []
        quiet_subjects = [
            pk
            for pk, sid in Subject.objects.filter(subject_id__startswith="B-").values_list(
                "pk", "subject_id"
            )
            if int(sid[2:]) % 3  # subjects with no open episode: the entry starts one
        ]
        first_entry = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
        for i, subject_pk in enumerate(quiet_subjects[: size["entries"]]):
            at = (first_entry + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M")
            form = {
                "collected_at": at,
                "ALT_value": "150",
                "ALT_unit": "U/L",
                "AST_unit": "U/L",
                "ALP_unit": "U/L",
                "TBIL_unit": "mg/dL",
                "LDLC_unit": "mg/dL",
                "APOB_unit": "mg/dL",
            }
            t0 = time.perf_counter()
            session.post(f"/subjects/{subject_pk}/draws/new/", form)
            moment = datetime.strptime(at, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
            while not Alert.objects.filter(subject_id=subject_pk, triggered_at=moment).exists():
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError(f"no alert for entry {i} within 30 s")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - t0)
        limit = statistics.median(redis_rtt) + statistics.median(bare)
        figures["entry_to_alert"] = {
            "entries": len(latencies),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(percentile(latencies, 95) * 1000, 1),
            "redis_round_trip_ms": round(statistics.median(redis_rtt) * 1000, 3),
            "bare_view_ms": round(statistics.median(bare) * 1000, 2),
            "ratio_p50_to_limit": round(statistics.median(latencies) / limit, 1),
            "target": "p50 <= 150 ms, p95 <= 400 ms",
        }

        reviewer_session = Session(base, "bench-reviewer")
        tasks.heartbeat.delay()
        queue_rps, queue_p95 = load(reviewer_session, QUEUE, 32, size["load_seconds"])
        bare_rps, bare_p95 = load(reviewer_session, BARE_VIEW, 32, size["load_seconds"])
        figures["throughput"] = {
            "clients": 32,
            "gunicorn_workers": 2,
            "queue_requests_per_second": round(queue_rps, 1),
            "queue_p95_ms": round(queue_p95 * 1000, 1),
            "bare_view_requests_per_second": round(bare_rps, 1),
            "bare_view_p95_ms": round(bare_p95 * 1000, 1),
            "ratio_to_bare_view": round(queue_rps / bare_rps, 2),
        }
    finally:
        stack.close()
        celery_app.close()

    print_table(figures)
    print(json.dumps(figures, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / ("quick.json" if options.quick else "latest.json")).write_text(
        json.dumps(figures, indent=2)
    )


def print_table(figures):
    rows = [
        (
            "entry -> alert p50 / p95",
            "{p50_ms} / {p95_ms} ms (x{ratio_p50_to_limit} limit)",
            "entry_to_alert",
        ),
        (
            "bulk import",
            "{rows} rows in {seconds} s ({import_command_seconds} s import_csv, "
            "{evaluation_seconds} s evaluation; x{ratio_to_copy} COPY, "
            "x{ratio_to_copy_kept} keyed COPY)",
            "bulk_import",
        ),
        (
            "re-evaluation",
            "{subjects_per_second} subjects/s ({draws_per_subject} draws each)",
            "re_evaluation",
        ),
        (
            "subject page",
            "{median_ms} ms (x{ratio_to_bare_view} bare view), queries "
            "{queries_with_30_draws}/{queries_with_300_draws} (30/300 draws)",
            "subject_page",
        ),
        (
            "alerts queue",
            "{median_ms} ms (x{ratio_to_bare_view} bare view) with {alerts} alerts",
            "alerts_queue",
        ),
        (
            "dashboard",
            "{median_ms} ms (x{ratio_to_bare_view} bare view) with {subjects} subjects",
            "dashboard",
        ),
        (
            "throughput (queue)",
            "{queue_requests_per_second} req/s, p95 {queue_p95_ms} ms "
            "(x{ratio_to_bare_view} bare view)",
            "throughput",
        ),
    ]
    print(f"{'figure':<28} measured")
    for label, template, key in rows:
        if key in figures:
            print(f"{label:<28} {template.format(**figures[key])}")


if __name__ == "__main__":
    main()
