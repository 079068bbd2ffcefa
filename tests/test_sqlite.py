"""The embedded default is a real database: on an SQLite file, entries made at the same moment by
several people (draws, doses, a decision submitted twice) are all answered, one after the other,
and none fails with "database is locked". The suite itself runs on PostgreSQL, so this test makes
its own SQLite file and serves it with gunicorn (processes and threads) as a deployment would."""

import html
import http.cookiejar
import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from django_otp.oath import totp

from lib.processes import BIN, ROOT, port_open, process, spare_port, wait_until

PASSWORD = "correct horse battery staple"
DRAWS_PER_SUBJECT = 3
SUBJECTS = 4

SETUP = f"""
import json
from datetime import date, timedelta
from decimal import Decimal
from django.contrib.auth.models import Group, User
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from monitoring.formats.csv_import import default_study
from monitoring.services import lab_entry
from subjects.models import Arm, Site, Subject

study = default_study()
site = Site.objects.create(study=study, code="S01", name="S01")
coordinator = User.objects.create_user("chloe", password={PASSWORD!r})
coordinator.groups.add(Group.objects.get(name="coordinator"))
site.coordinators.add(coordinator)
reviewer = User.objects.create_user("rita", password={PASSWORD!r}, first_name="Rita")
reviewer.groups.add(Group.objects.get(name="safety_reviewer"))
app = TOTPDevice.objects.create(user=reviewer, name="Authenticator app", confirmed=True)
enrolled = timezone.now().date() - timedelta(days=30)
subjects = [
    Subject.objects.create(
        study=study, site=site, subject_id=f"MIP-{{n:03}}", sex="M", birth_date=date(1970, 1, 1),
        arm=Arm.objects.get(study=study, code="standard"), enrolled_on=enrolled,
    )
    for n in range({SUBJECTS})
]
ALT = lab_entry.ResultEntry("ALT", Decimal(150), "U/L")
lab_entry.record_draw(subjects[0], timezone.now() - timedelta(days=2), [ALT])
alert = subjects[0].alerts.get(kind="withhold_dose")
print(json.dumps({{"subjects": [s.pk for s in subjects], "alert": alert.pk, "app": app.key}}))
"""

COUNT = """
import json
from monitoring.models import Decision, LabDraw
from subjects.models import Dose
print(json.dumps({"draws": LabDraw.objects.count(), "doses": Dose.objects.count(),
                  "decisions": Decision.objects.count()}))
"""


def manage(env, *args):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return (result.stdout.strip().splitlines() or [""])[-1]  # what it printed last


class Browser:
    """One person's browser: its own cookies, forms posted with their CSRF token."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path):
        with self.opener.open(self.base + path, timeout=60) as response:
            return response.read().decode()

    def form_token(self, path):
        page = self.get(path)
        return html.unescape(re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1])

    def post(self, path, data, token=None):
        """The final status (redirects followed) and page."""
        token = token or self.form_token(path)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        try:
            with self.opener.open(self.base + path, body, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def sign_in(self, username, app_key=None):
        """With the key of the user's authenticator app, also the second step (its code)."""
        status, _ = self.post("/login/", {"username": username, "password": PASSWORD})
        assert status == 200
        if app_key is not None:
            code = f"{totp(bytes.fromhex(app_key)):06d}"
            status, page = self.post("/login/verify/", {"code": code})
            assert status == 200 and "Dashboard" in page
        return self


def moment(days_ago, hour):
    at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    return at.replace(hour=hour).strftime("%Y-%m-%dT%H:%M")


def all_at_once(calls):
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.fixture
def sqlite_site(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hepwatch.sqlite3'}",
        "SECRET_KEY": "test-only-secret",
        "ALLOWED_HOSTS": "127.0.0.1",
        "HEPWATCH_LOGIN_FAILURE_LIMIT": "100",
        "PYTHONUNBUFFERED": "1",
    }
    manage(env, "migrate", "--noinput", "-v0")
    ids = json.loads(manage(env, "shell", "-c", SETUP))
    port = spare_port()
    server = [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    server += ["--workers", "3", "--threads", "4", "--timeout", "120"]
    log = tmp_path / "web.log"
    with process(server, env, log):
        assert wait_until(lambda: port_open(port), 30), log.read_text()
        yield {"base": f"http://127.0.0.1:{port}", "env": env, "log": log, **ids}


def test_concurrent_entries_on_sqlite_all_succeed_in_turn(sqlite_site):
    base, pks = sqlite_site["base"], sqlite_site["subjects"]
    entries = []  # (browser, path, data), each posted by its own signed-in browser
    for n, pk in enumerate(pks):
        for d in range(DRAWS_PER_SUBJECT):
            data = {"collected_at": moment(1, 6 + d), "ALT_value": str(30 + 40 * d + n)}
            data.update({f"{a}_unit": u for a, u in [("ALT", "U/L"), ("AST", "U/L")]})
            data.update({"ALP_unit": "U/L", "TBIL_unit": "mg/dL"})
            data.update({"LDLC_unit": "mg/dL", "APOB_unit": "mg/dL"})
            entries.append(("chloe", f"/subjects/{pk}/draws/new/", data))
    for pk in pks[1:]:
        for d in range(2):
            data = {"administered_at": moment(3, 9 + d), "dose_mg": "200"}
            entries.append(("chloe", f"/subjects/{pk}/doses/new/", data))
    browsers = [Browser(base).sign_in(user) for user, _, _ in entries]
    tokens = [b.form_token(path) for b, (_, path, _) in zip(browsers, entries, strict=True)]

    # The reviewer signs a "confirm", and the button is pressed twice.
    reviewer = Browser(base).sign_in("rita", sqlite_site["app"])
    alert_path = f"/alerts/{sqlite_site['alert']}/"
    token = reviewer.form_token(alert_path)
    decision = {"action": "confirm", "reason": "Repeat ALT 3.6× ULN.", "password": PASSWORD}
    calls = [
        lambda b=b, p=p, d=d, t=t: b.post(p, d, t)
        for b, (_, p, d), t in zip(browsers, entries, tokens, strict=True)
    ]
    calls += [lambda: reviewer.post(alert_path, decision, token)] * 2

    answers = all_at_once(calls)

    log = sqlite_site["log"].read_text()
    assert "database is locked" not in log, log[-3000:]
    statuses = [status for status, _ in answers]
    assert all(status < 500 for status in statuses), (statuses, log[-3000:])
    entered = answers[: len(entries)]
    assert [s for s, _ in entered] == [200] * len(entries)
    assert all("saved" in page for _, page in entered), [p[-500:] for _, p in entered]
    counts = json.loads(manage(sqlite_site["env"], "shell", "-c", COUNT))
    assert counts["draws"] == 1 + SUBJECTS * DRAWS_PER_SUBJECT
    assert counts["doses"] == 2 * (SUBJECTS - 1)
    assert counts["decisions"] >= 1


def test_the_embedded_default_uses_wal_a_busy_timeout_and_immediate_writes(sqlite_site):
    script = (
        "from django.db import connection; c = connection.cursor(); "
        "print(c.execute('PRAGMA journal_mode').fetchone()[0], "
        "c.execute('PRAGMA busy_timeout').fetchone()[0], connection.transaction_mode)"
    )
    assert manage(sqlite_site["env"], "shell", "-c", script).split() == [
        "wal",
        "20000",
        "IMMEDIATE",
    ]
