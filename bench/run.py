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
import gzip
import hashlib
import http.cookiejar
import json
import os
import random
import re
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


BEGAN = time.monotonic()


def stage(name):
    """Progress on stderr: where a run spends its minutes."""
    print(f"[{time.monotonic() - BEGAN:6.1f} s] {name}", file=sys.stderr, flush=True)


def percentile(values, q):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# ---- the synthetic study ------------------------------------------------------------------

# A v2 study's life, weekly: three subjects in five cycle through elevations of eight
# weeks (R2 at 1.4x, an episode opened at 3.4x (R3), confirmed (R4), severe (R5), ended at 2.0x
# (R8)); the site stops dosing at the episode's first draw, and two days after the ending draw a
# reviewer signs a re-start (the same dose, or the reduced regimen for some standard-arm
# subjects) or, for one subject in ten, a discontinuation at its second episode.
CYCLE = ["0.6", "1.4", "0.7", "3.4", "3.2", "5.1", "2.0", "0.8"]
EPISODE_START, EPISODE_END = 3, 6  # positions in CYCLE
REGIMENS = {"standard": (200, (0,)), "reduced": (70, (0, 2, 4))}  # mg, weekdays (subjects/defaults)
REVIEWER = "bench-reviewer"


def subject_plan(i, weeks):
    """(arm, active, decisions [(week of the episode, signed_at, action, regimen)])."""
    arm = ("standard", "reduced")[i % 2]
    active = i % 5 in (1, 2, 3)
    decisions = []
    if active:
        for episode, first in enumerate(range(EPISODE_START, weeks, len(CYCLE))):
            end = first + EPISODE_END - EPISODE_START
            if end >= weeks:
                break
            signed = START + timedelta(weeks=end, days=2, hours=4)
            if episode == 1 and i % 10 == 1:
                decisions.append((first, signed, "discontinue", ""))
                break
            reduce = episode == 0 and arm == "standard" and i % 4 == 2
            action = "resume_reduced_dose" if reduce else "resume_same_dose"
            decisions.append((first, signed, action, "reduced" if reduce else ""))
    return arm, active, decisions


def write_study(folder: Path, n_subjects: int, n_draws: int, rng: random.Random):
    """Subjects, then two periods of n_draws weeks: each a doses file (as the sites gave
    them), a labs file (weekly ALT+AST draws, the first with a full baseline) and the decisions
    signed on its episodes."""
    weeks = 2 * n_draws
    subjects = folder / "subjects.csv"
    doses = [folder / "doses1.csv", folder / "doses2.csv"]
    labs = [folder / "labs1.csv", folder / "labs2.csv"]
    decisions = [folder / "decisions1.csv", folder / "decisions2.csv"]
    with contextlib.ExitStack() as files:
        sw = csv.writer(files.enter_context(subjects.open("w", newline="")))
        dws = [csv.writer(files.enter_context(p.open("w", newline=""))) for p in doses]
        lws = [csv.writer(files.enter_context(p.open("w", newline=""))) for p in labs]
        cws = [csv.writer(files.enter_context(p.open("w", newline=""))) for p in decisions]
        sw.writerow(["subject_id", "site", "sex", "birth_date", "arm", "enrolled_on"])
        for w in dws:
            w.writerow(["subject_id", "administered_at", "dose_mg"])
        for w in lws:
            w.writerow(["subject_id", "collected_at", "test", "value", "unit", "uln"])
        for w in cws:
            w.writerow(["subject_id", "signed_at", "action", "regimen", "reviewer", "reason"])
        for i in range(n_subjects):
            sid = f"B-{i:05}"
            arm, active, plan = subject_plan(i, weeks)
            enrolled = (START - timedelta(days=7)).date().isoformat()
            sw.writerow([sid, f"S{i % 20:02}", "MF"[i % 2], "1970-01-01", arm, enrolled])
            withheld = []  # (from, until or None): no doses given
            regimen_changes = []  # (from, regimen)
            for first, signed, action, regimen in plan:
                cws[0 if first < n_draws else 1].writerow(
                    [sid, signed.isoformat(), action, regimen, REVIEWER, REASONS[action]]
                )
                withheld.append(
                    (START + timedelta(weeks=first), None if action == "discontinue" else signed)
                )
                if regimen:
                    regimen_changes.append((signed, regimen))
            for week in range(weeks):
                for day in range(7):
                    at = START + timedelta(weeks=week, days=day, hours=2)
                    current = arm
                    for since, code in regimen_changes:
                        if since <= at:
                            current = code
                    mg, days = REGIMENS[current]
                    held = any(a <= at and (b is None or at <= b) for a, b in withheld)
                    if day in days and not held:
                        dws[0 if week < n_draws else 1].writerow([sid, at.isoformat(), mg])
            uln = 41 if i % 2 == 0 else 33
            for week in range(weeks):
                multiple = CYCLE[week % len(CYCLE)] if active else "0.7"
                at = (START + timedelta(weeks=week)).isoformat()
                alt = round(float(multiple) * uln, 2)
                w = lws[0 if week < n_draws else 1]
                w.writerow([sid, at, "ALT", alt, "U/L", ""])
                w.writerow([sid, at, "AST", round(alt * 0.6 + rng.random(), 2), "U/L", ""])
                if week == 0:  # the rest of the baseline (R1)
                    w.writerow([sid, at, "ALP", 80, "U/L", ""])
                    w.writerow([sid, at, "TBIL", "0.6", "mg/dL", ""])
    return subjects, doses, labs, decisions


REASONS = {
    "resume_same_dose": "ALT/AST back below 3x ULN: re-start at the same dose",
    "resume_reduced_dose": "ALT/AST back below 3x ULN: re-start at a reduced dose",
    "discontinue": "Second elevation: discontinue treatment",
}


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


def recreate_database(url, env):
    """Wipe the benchmark's database and create it again, migrated: copied from a template
    database migrated once per set of migration files (named after the database, its comment
    their fingerprint), not migrated again in every run."""
    import psycopg

    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    template = f"{name}_migrated"
    admin = parts._replace(path="/postgres").geturl()
    migrations = sorted(ROOT.glob("*/migrations/*.py"))
    fingerprint = hashlib.sha256(b"".join(m.read_bytes() for m in migrations)).hexdigest()
    with psycopg.connect(admin, autocommit=True) as conn:
        (comment,) = conn.execute(
            "SELECT max(shobj_description(oid, 'pg_database')) FROM pg_database WHERE datname = %s",
            [template],
        ).fetchone()
        if comment != fingerprint:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{template}"')
            subprocess.run(
                [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"],
                env={**env, "DATABASE_URL": parts._replace(path=f"/{template}").geturl()},
                check=True,
            )
            conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{fingerprint}'")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def collect_static():
    """collectstatic, unless its manifest is newer than every file under static/ (compressing
    the plotly bundle again takes most of a minute)."""
    from django.conf import settings
    from django.core.management import call_command

    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    newest = max(f.stat().st_mtime for f in (ROOT / "static").rglob("*") if f.is_file())
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        call_command("collectstatic", "--noinput", verbosity=0)


def wait_evaluated(timeout=600):
    from django.db.models import F

    from monitoring.models import SubjectSafetyState

    deadline = time.monotonic() + timeout
    while SubjectSafetyState.objects.filter(evaluated_version__lt=F("data_version")).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("evaluation did not finish")
        time.sleep(0.05)


class _Unfollowed(urllib.request.HTTPRedirectHandler):
    """A redirect answered, not followed: the entry's time ends at its own response."""

    def redirect_request(self, *args, **kwargs):
        return None


class Session:
    """A logged-in browser-like HTTP session against the real server."""

    def __init__(self, base, username):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        cookies = urllib.request.HTTPCookieProcessor(self.jar)
        self.opener = urllib.request.build_opener(cookies)
        self.unfollowed = urllib.request.build_opener(cookies, _Unfollowed)
        self.get("/login/")
        self.post("/login/", {"username": username, "password": PASSWORD})
        self.second_step(username)

    def second_step(self, username):
        """Reviewers confirm the sign-in with their authenticator app's code (django-otp), as the
        browser tests do (tests/world.py)."""
        from django.contrib.auth.models import User

        from subjects import access
        from tests.world import second_factor, totp_code

        user = User.objects.get(username=username)
        if access.needs_second_factor(user):
            self.post("/login/verify/", {"code": totp_code(second_factor(user))})
        with self.opener.open(self.base + "/", timeout=30) as response:
            response.read()
            if urllib.parse.urlsplit(response.geturl()).path != "/":
                raise RuntimeError(f"{username} is not signed in: {response.geturl()}")

    def csrf(self):
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def fetch(self, path, headers):
        """(body as sent, Content-Encoding)."""
        request = urllib.request.Request(self.base + path, headers=headers)
        with self.opener.open(request, timeout=30) as response:
            return response.read(), response.headers.get("Content-Encoding")

    def get(self, path):
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:  # a 503 from /healthz is still an answer
            error.read()
            return error.code

    def post(self, path, data, *, follow=True):
        """The status of the answer; with follow=False, a redirect's own (302), its page not
        fetched."""
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.csrf()}).encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Referer": self.base + path}
        )
        try:
            with (self.opener if follow else self.unfollowed).open(request, timeout=30) as answer:
                answer.read()
                return answer.status
        except urllib.error.HTTPError as error:
            if follow or error.code != 302:
                raise
            error.read()
            return error.code


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
    from django.test.utils import CaptureQueriesContext

    from monitoring.models import Alert, LabDraw
    from subjects.models import Subject
    from tests.world import SignInClient

    client = SignInClient()  # the reviewer's sign-in passes the second step, as in the tests
    client.force_login(User.objects.get(username="bench-reviewer"))

    def page(url):
        client.get(url).close()

    def queries(url):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    def median_ms(url):
        """(the page's median ms, the bare view's): timed in turn, so that both see the same
        machine (a neighbour's burst on a shared machine moves both, not one)."""
        for _ in range(3):  # a server worker has served the page before
            page(url)
            page(BARE_VIEW)
        pages, bares = [], []
        for _ in range(samples):
            pages += timed(lambda: page(url), 1)
            bares += timed(lambda: page(BARE_VIEW), 1)
        return round(statistics.median(pages) * 1000, 1), statistics.median(bares) * 1000

    small = Subject.objects.get(subject_id="PAGE-30").pk
    big = Subject.objects.get(subject_id="PAGE-300").pk
    bare = {}

    def timed_page(name, url):
        ms, bare[name] = median_ms(url)
        return ms

    figures = {
        "subject_page": {
            "draws": LabDraw.objects.filter(subject_id=big).count(),
            "median_ms": (ms := timed_page("subject_page", f"/subjects/{big}/")),
            "bare_view_ms": round(bare["subject_page"], 1),
            "ratio_to_bare_view": round(ms / bare["subject_page"], 1),
            "queries_with_30_draws": queries(f"/subjects/{small}/"),
            "queries_with_300_draws": queries(f"/subjects/{big}/"),
            "target": "<= 10x bare view; queries flat",
            "met": ms <= 10 * bare["subject_page"],
        },
        "alerts_queue": {
            "alerts": Alert.objects.count(),
            "median_ms": (ms := timed_page("alerts_queue", QUEUE)),
            "bare_view_ms": round(bare["alerts_queue"], 1),
            "ratio_to_bare_view": round(ms / bare["alerts_queue"], 1),
            "queries": queries(QUEUE),
            "target": "<= 10x bare view",
            "met": ms <= 10 * bare["alerts_queue"],
        },
        "dashboard": {
            "subjects": Subject.objects.count(),
            "median_ms": (ms := timed_page("dashboard", "/")),
            "bare_view_ms": round(bare["dashboard"], 1),
            "ratio_to_bare_view": round(ms / bare["dashboard"], 1),
            "queries": queries("/"),
            "target": "<= 10x bare view",
            "met": ms <= 10 * bare["dashboard"],
        },
    }
    subject = figures["subject_page"]
    flat = subject["queries_with_30_draws"] == subject["queries_with_300_draws"]
    subject["met"] = subject["met"] and flat
    print(json.dumps(figures))


# ---- the floors ---------------------------------------------------------------------------

# (table, columns written first: the keys the copy renumbers), in the order they are written.
IMPORT_TABLES = (
    ("monitoring_labdraw", ("id",)),
    ("monitoring_labresult", ("id", "draw_id")),
    ("monitoring_historicallabdraw", ("id",)),
    ("monitoring_historicallabresult", ("id", "draw_id")),
    ("subjects_dose", ("id",)),
    ("subjects_historicaldose", ("id",)),
)
SHIFTED = (
    "collected_at",
    "resulted_at",
    "administered_at",
)  # a second earlier: the copies keep unique keys


def table_columns(conn, table):
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [name for (name,) in rows if name != "history_id"]  # history keys: the identity's


def import_floor(url, since, repeats=5):
    """The database's own share of the import: COPY of the draws, results and doses it wrote
    and their '+' history rows (read back from the real tables, each a second earlier) into the
    same tables, primary keys taken from their sequences and every unique key and foreign key
    checked as a commit checks them (then rolled back). `since` = {table: (largest id before the
    import, after it)}. The median of `repeats`; returns (seconds, rows)."""
    import psycopg

    def base(table):
        return table.replace("historical", "")

    with psycopg.connect(url) as conn:
        payload = []
        for table, keys in IMPORT_TABLES:
            columns = table_columns(conn, table)
            rest = [c for c in columns if c not in keys]
            select = [*keys, *(f"{c} - interval '1 second'" if c in SHIFTED else c for c in rest)]
            low, high = since[base(table)]
            query = f"SELECT {', '.join(select)} FROM {table} WHERE id > {low} AND id <= {high}"
            with conn.cursor().copy(f"COPY ({query}) TO STDOUT") as copy:
                text = b"".join(bytes(chunk) for chunk in copy).decode()
            lines = [line.split("\t", len(keys)) for line in text.splitlines()]
            payload.append((table, [*keys, *rest], lines))
        owned = {table: [line[0] for line in lines] for table, _, lines in payload}
        sequences = {
            table: conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table]).fetchone()[0]
            for table in since
        }
        conn.commit()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            new_key = {}
            for table in since:
                taken = conn.execute(
                    "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                    [sequences[table], len(owned[table])],
                ).fetchall()
                new_key[table] = dict(zip(owned[table], (str(k) for (k,) in taken), strict=True))
            draw = new_key["monitoring_labdraw"]
            for table, columns, lines in payload:
                mine = new_key[base(table)]
                if columns[1] == "draw_id":  # results: their own key and their draw's
                    text = "".join(f"{mine[k]}\t{draw[d]}\t{r}\n" for k, d, r in lines)
                else:
                    text = "".join(f"{mine[k]}\t{r}\n" for k, r in lines)
                copy_in = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with conn.cursor().copy(copy_in) as copy:
                    copy.write(text)
            # The foreign-key checks a commit runs, run now; then nothing is kept.
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            times.append(time.perf_counter() - t0)
            conn.rollback()
    return statistics.median(times), sum(len(lines) for _, _, lines in payload)


def read_histories(url, pks, chunk):
    """The rows the engine needs of these subjects (draws, results, doses, decisions, the
    subjects), chunk by chunk as the worker reads them, on one connection."""
    import psycopg

    with psycopg.connect(url) as conn:
        for start in range(0, len(pks), chunk):
            some = pks[start : start + chunk]
            for sql in (
                "SELECT id, subject_id, collected_at, resulted_at, symptoms_of_liver_injury "
                "FROM monitoring_labdraw WHERE subject_id = ANY(%s)",
                "SELECT draw_id, analyte, value, unit, reported_uln, uln FROM monitoring_labresult"
                " WHERE draw_id IN (SELECT id FROM monitoring_labdraw WHERE subject_id = ANY(%s))",
                "SELECT id, subject_id, administered_at, dose_mg FROM subjects_dose "
                "WHERE subject_id = ANY(%s)",
                "SELECT id, subject_id, action, signed_at, regimen_id, replaces_id, reviewer_id "
                "FROM monitoring_decision WHERE subject_id = ANY(%s)",
                "SELECT id, active_liver_disease, arm_id, study_id FROM subjects_subject "
                "WHERE id = ANY(%s)",
            ):
                conn.execute(sql, [some]).fetchall()


def evaluation_floor(url, pks, chunk, processes=2, repeats=5):
    """Reading the same histories from PostgreSQL, split over as many connections as the
    worker has processes, in parallel (psycopg waits on the server without the GIL): the median
    of `repeats`."""
    halves = [pks[k::processes] for k in range(processes)]
    times = []
    for _ in range(repeats):
        threads = [threading.Thread(target=read_histories, args=(url, h, chunk)) for h in halves]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def first_load(base, session, path):
    """Bytes a browser fetches on a first load of `path` (empty cache): the page and the CSS,
    JS, icons and fonts it names, each as sent with Accept-Encoding br and gzip."""
    import brotli

    accept = {"Accept-Encoding": "br, gzip"}
    html, _ = session.fetch(path, accept)
    total, parts = len(html), {"html": len(html)}
    pending = re.findall(r'(?:href|src)="(/static/[^"]+)"', html.decode())
    seen = set()
    while pending:
        url = pending.pop(0)
        if url in seen:
            continue
        seen.add(url)
        body, encoding = session.fetch(url, accept)
        total += len(body)
        parts[url.split("/")[-1]] = len(body)
        if url.split("?")[0].endswith(".css"):
            text = brotli.decompress(body) if encoding == "br" else body
            text = gzip.decompress(text) if encoding == "gzip" else text
            for ref in re.findall(r'url\("?([^")]+\.woff2[^")]*)"?\)', text.decode()):
                pending.append(urllib.parse.urljoin(url, ref))
    return total, parts


def median_of(repeats, fn):
    return statistics.median(fn() for _ in range(repeats))


# ---- the run ------------------------------------------------------------------------------


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
    recreate_database(options.database_url, env)

    import django

    django.setup()
    import redis
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Max

    from config.celery import app as celery_app
    from lib.processes import gunicorn_args, process, spare_port, worker_args
    from monitoring import health, tasks
    from monitoring.evaluation import runner
    from monitoring.models import Alert, Decision, LabDraw, LabResult
    from subjects.models import Dose, Subject

    collect_static()
    stage("database and static files ready")
    redis.Redis.from_url(options.redis_url).flushdb()
    reviewer = User.objects.create_user(REVIEWER, password=PASSWORD)
    reviewer.groups.add(Group.objects.get(name="safety_reviewer"))
    load_average = os.getloadavg()
    figures = {
        "machine": {
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_at_start": [round(x, 2) for x in load_average],
        }
    }
    folder = Path(tempfile.mkdtemp(prefix="hepwatch-bench-"))
    logs = folder / "processes.log"
    stack = contextlib.ExitStack()
    # The compose service's worker: prefork, two processes.
    stack.enter_context(
        process(worker_args(pool=None, concurrency=2, loglevel="warning"), env, logs)
    )
    port = spare_port()
    # The server with the floor view (bench/settings.py): never a product URL.
    server_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    stack.enter_context(process(gunicorn_args(port, access_log=False), server_env, logs))
    quiet = open(os.devnull, "w")  # noqa: SIM115 (closed with the stack)
    stack.callback(quiet.close)
    try:
        rng = random.Random(2026)
        subjects_csv, doses, labs, decisions = write_study(
            folder, size["subjects"], size["draws"], rng
        )
        stage("study written")
        call_command("import_csv", subjects=str(subjects_csv), stdout=quiet)
        wait_evaluated()

        # Bulk import: the first labs file and the decisions signed on its episodes, evaluation
        # (by the worker) included, against the database's own share of the same rows.
        models = {
            "monitoring_labdraw": LabDraw,
            "monitoring_labresult": LabResult,
            "subjects_dose": Dose,
        }

        def largest_ids():
            return {t: m.objects.aggregate(n=Max("pk"))["n"] or 0 for t, m in models.items()}

        stage("subjects imported")
        before = largest_ids()
        t0 = time.perf_counter()
        call_command(
            "import_csv",
            doses=str(doses[0]),
            labs=str(labs[0]),
            decisions=str(decisions[0]),
            stdout=quiet,
        )
        command_s = time.perf_counter() - t0
        wait_evaluated()
        import_s = time.perf_counter() - t0
        after = largest_ids()
        since = {table: (before[table], after[table]) for table in models}
        rows = sum(sum(1 for _ in open(f)) - 1 for f in (doses[0], labs[0], decisions[0]))
        stage("import timed")
        floor_s, floor_rows = import_floor(options.database_url, since)
        stage("import floor")
        figures["bulk_import"] = {
            "file_rows": rows,
            "decisions": Decision.objects.count(),
            "subjects": size["subjects"],
            "seconds": round(import_s, 2),
            "import_command_seconds": round(command_s, 2),
            "evaluation_seconds": round(import_s - command_s, 2),
            "floor_rows": floor_rows,
            "floor_seconds": round(floor_s, 3),
            "ratio": round(import_s / floor_s, 1),
            "target": "<= 3x floor",
            "met": import_s / floor_s <= 3,
        }

        call_command(
            "import_csv",
            doses=str(doses[1]),
            labs=str(labs[1]),
            decisions=str(decisions[1]),
            stdout=quiet,
        )
        wait_evaluated()

        # Re-evaluation of every subject by the worker's two processes (data marked changed,
        # as a rule-set switch or a sweep asks), against reading the same histories.
        stage("second period imported")
        pks = sorted(Subject.objects.values_list("pk", flat=True))
        evaluation_floor_s = evaluation_floor(options.database_url, pks, runner.EVALUATION_CHUNK)
        stage("evaluation floor")
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            with transaction.atomic():
                runner.mark_changed(pks)
            wait_evaluated()
            times.append(time.perf_counter() - t0)
        evaluate_s = statistics.median(times)
        draws_each = LabDraw.objects.count() // max(1, len(pks))
        figures["re_evaluation"] = {
            "subjects": len(pks),
            "draws_per_subject": draws_each,
            "seconds": round(evaluate_s, 2),
            "subjects_per_second": round(len(pks) / evaluate_s),
            "floor_seconds": round(evaluation_floor_s, 3),
            "ratio": round(evaluate_s / evaluation_floor_s, 1),
            "target": ">= 2000 subjects/s or <= 3x floor",
            "met": len(pks) / evaluate_s >= 2000 or evaluate_s / evaluation_floor_s <= 3,
        }

        # Server time of pages (no network), in a fresh process as a server worker is: not in
        # this one, which holds everything it built. Vacuum and planner statistics first, as
        # autovacuum does within a minute of a bulk change (and not during the timings).
        stage("re-evaluation")
        for name, n in (("PAGE-30", 30), ("PAGE-300", size["page_draws"])):
            s_csv, l_csv = write_page_subject(folder, name, n)
            call_command("import_csv", subjects=str(s_csv), labs=str(l_csv), stdout=quiet)
        wait_evaluated()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        stage("vacuumed")
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

        # Through the real server: entry -> alert latency beside its floor, interleaved so both
        # see the same machine; throughput under load; a subject page's first load.
        stage("pages timed")
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
        r = redis.Redis.from_url(options.redis_url)

        def celery_round_trip():
            """A task that does nothing but say it ran (the heartbeat's SET), through the
            broker and the worker pool, until its effect is seen."""
            seen = r.get(health.HEARTBEAT_KEY)
            tasks.heartbeat.delay()
            while r.get(health.HEARTBEAT_KEY) == seen:
                time.sleep(0.002)

        celery_round_trip()  # the worker answers: /healthz reports healthy
        quiet_subjects = [
            pk
            for pk, sid in Subject.objects.filter(subject_id__startswith="B-").values_list(
                "pk", "subject_id"
            )
            if int(sid[2:]) % 5 in (0, 4)  # no episode ever: the entry starts one
        ]
        n = size["entries"]
        entry_subjects, floor_subjects = quiet_subjects[:n], quiet_subjects[n : 2 * n]
        first_entry = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
        latencies, floors = [], []
        for i, (subject_pk, floor_pk) in enumerate(
            zip(entry_subjects, floor_subjects, strict=True)
        ):
            at = (first_entry + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M")
            form = {
                "collected_at": at,
                "ALT_value": "150",
                "ALT_unit": "U/L",
                "AST_value": "90",
                "AST_unit": "U/L",
                "ALP_unit": "U/L",
                "TBIL_unit": "mg/dL",
                "LDLC_unit": "mg/dL",
                "APOB_unit": "mg/dL",
            }
            t0 = time.perf_counter()
            # Until the entry's own answer (its redirect: saved), not the subject page it leads
            # to, which the subject page's figure measures; the floor renders no page either.
            if session.post(f"/subjects/{subject_pk}/draws/new/", form, follow=False) != 302:
                raise RuntimeError(f"entry {i} was not saved")
            moment = datetime.strptime(at, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
            while not Alert.objects.filter(subject_id=subject_pk, triggered_at=moment).exists():
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError(f"no alert for entry {i} within 30 s")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            session.post(f"/bench/floor/draw/{floor_pk}/", {"collected_at": moment.isoformat()})
            celery_round_trip()
            floors.append(time.perf_counter() - t0)
        # The median of five: the floor's p95 in five runs of a fifth of the entries each.
        fifth = max(1, len(floors) // 5)
        floor_p95 = statistics.median(
            percentile(floors[k : k + fifth], 95) for k in range(0, fifth * 5, fifth)
        )
        p95 = percentile(latencies, 95)
        figures["entry_to_alert"] = {
            "entries": len(latencies),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1),
            "floor_p50_ms": round(statistics.median(floors) * 1000, 1),
            "floor_p95_ms": round(floor_p95 * 1000, 1),
            "ratio": round(p95 / floor_p95, 1),
            "target": "p95 <= 3x floor",
            "met": p95 / floor_p95 <= 3,
        }

        stage("entries timed")
        big = Subject.objects.get(subject_id="PAGE-300").pk
        transferred, parts = first_load(base, session, f"/subjects/{big}/")
        figures["first_load"] = {
            "bytes": transferred,
            "megabytes": round(transferred / 1e6, 3),
            "parts": parts,
            "target": "<= 1.5 MB",
            "met": transferred <= 1.5e6,
        }

        stage("first load")
        reviewer_session = Session(base, REVIEWER)
        celery_round_trip()
        queue_rps, queue_p95 = load(reviewer_session, QUEUE, 32, size["load_seconds"])
        bare_rps, bare_p95 = load(reviewer_session, BARE_VIEW, 32, size["load_seconds"])
        figures["throughput"] = {
            "clients": 32,
            "gunicorn_workers": 2,
            "queue_requests_per_second": round(queue_rps, 1),
            "queue_p95_ms": round(queue_p95 * 1000, 1),
            "bare_view_requests_per_second": round(bare_rps, 1),
            "bare_view_p95_ms": round(bare_p95 * 1000, 1),
            "ratio": round(queue_rps / bare_rps, 2),
            "target": ">= 0.3x the bare view's",
            "met": queue_rps / bare_rps >= 0.3,
        }
    finally:
        stack.close()
        celery_app.close()
    figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]

    print_table(figures)
    print(json.dumps(figures, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / ("quick.json" if options.quick else "latest.json")).write_text(
        json.dumps(figures, indent=2)
    )


def print_table(figures):
    """figure | measured | floor | ratio | target | met."""
    e, i, v = figures["entry_to_alert"], figures["bulk_import"], figures["re_evaluation"]
    s, q, d = figures["subject_page"], figures["alerts_queue"], figures["dashboard"]
    t, f = figures["throughput"], figures["first_load"]
    rows = [
        (
            "entry -> alert p95",
            f"{e['p95_ms']} ms (p50 {e['p50_ms']})",
            f"{e['floor_p95_ms']} ms (p50 {e['floor_p50_ms']})",
            e,
        ),
        (
            "bulk import",
            f"{i['seconds']} s ({i['file_rows']} file rows; import_csv "
            f"{i['import_command_seconds']} s + evaluation {i['evaluation_seconds']} s)",
            f"{i['floor_seconds']} s COPY of {i['floor_rows']} rows",
            i,
        ),
        (
            "re-evaluation",
            f"{v['seconds']} s, {v['subjects_per_second']} subjects/s",
            f"{v['floor_seconds']} s reading histories",
            v,
        ),
        (
            "subject page",
            f"{s['median_ms']} ms ({s['draws']} draws; queries "
            f"{s['queries_with_30_draws']}/{s['queries_with_300_draws']})",
            f"{s['bare_view_ms']} ms bare view",
            s,
        ),
        (
            "alerts queue",
            f"{q['median_ms']} ms ({q['alerts']} alerts; {q['queries']} queries)",
            f"{q['bare_view_ms']} ms bare view",
            q,
        ),
        (
            "dashboard",
            f"{d['median_ms']} ms ({d['subjects']} subjects; {d['queries']} queries)",
            f"{d['bare_view_ms']} ms bare view",
            d,
        ),
        (
            "queue throughput",
            f"{t['queue_requests_per_second']} req/s",
            f"{t['bare_view_requests_per_second']} req/s bare view",
            t,
        ),
        ("subject page first load", f"{f['megabytes']} MB", "-", f),
    ]
    print(
        f"load average {figures['machine']['load_average_at_start']} at start, "
        f"{figures['machine']['load_average_at_end']} at end"
    )
    print(f"{'figure':<24} | {'measured':<60} | {'floor':<34} | ratio | target | met")
    for label, measured, floor, fig in rows:
        ratio = fig.get("ratio", fig.get("ratio_to_bare_view", "-"))
        print(
            f"{label:<24} | {measured:<60} | {floor:<34} | {ratio} | {fig['target']} | "
            f"{'yes' if fig['met'] else 'NO'}"
        )


if __name__ == "__main__":
    main()
