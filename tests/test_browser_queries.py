"""A data query from opening to closing in a real browser, across the roles: a monitor opens
one on an ALT result; the site's coordinator sees it (navigation count, dashboard, their list)
and explains; a safety reviewer sends it back; the coordinator corrects the value with a
reason; the monitor closes it. The e-mails, the statuses, the subject's history and a closed
query's refusal are checked. Screenshots go to test-artifacts/."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from playwright.sync_api import expect

from monitoring.evaluation import runner
from monitoring.models import Alert, DataQuery, LabResult
from monitoring.services import data_queries, lab_entry

from .factories import results
from .test_browser import shot, sign_in, sign_out, study  # noqa: F401 (fixture)
from .world import SignInClient, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def sign_in_as_reviewer(page, base, username):
    """A safety reviewer's session made as the other tests make it (force_login, its second step
    passed), handed to the browser: the sign-in form itself is tested in tests/test_browser.py."""
    client = SignInClient()
    client.force_login(User.objects.get(username=username))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_query_runs_from_opening_to_closing_across_the_roles(page, live_server, study):  # noqa: F811
    base, subject, now = live_server.url, study["subject"], study["now"]
    make_user("max", "monitor", first_name="Max", last_name="Monitor", email="max@x.org")
    draw = lab_entry.record_draw(
        subject, now - timedelta(days=2), results(ALT="143.5", AST=30), lab_name="Central lab"
    )
    runner.evaluate_subjects([subject.pk])
    alt = draw.results.get(analyte="ALT")
    mail.outbox.clear()

    # The monitor opens a query on the ALT result, from the draw's page.
    sign_in(page, base, "max")
    page.goto(f"{base}/draws/{draw.pk}/")
    page.get_by_role("link", name="Query ALT").click()
    expect(page.get_by_label("About")).to_have_value(f"result-{alt.pk}")
    page.get_by_role("button", name="Open the query").click()
    expect(page.get_by_text("A question is required")).to_be_visible()  # empty: refused
    shot(page, "q0-query-form-refused")
    page.get_by_label("Question for the site").fill(
        "ALT 143.5 U/L is seven times the baseline: please check it against the lab report."
    )
    page.get_by_role("button", name="Open the query").click()
    expect(page.get_by_text(re.compile(r"Query \d+ opened"))).to_be_visible()
    expect(page.locator("#query-status")).to_contain_text("Open")
    query = DataQuery.objects.get()
    assert query.status == "open" and query.result == alt
    assert [m.to for m in mail.outbox] == [["chloe@x.org"]]
    assert f"/queries/{query.pk}/" in mail.outbox[0].body
    page.goto(f"{base}/subjects/{subject.pk}/")
    expect(page.locator("#subject-queries")).to_contain_text("Data queries not yet closed (1)")
    shot(page, "q1-subject-with-open-query")
    sign_out(page)

    # The coordinator sees it: the navigation's count, the dashboard, their list; and explains.
    sign_in(page, base, "chloe")
    expect(page.locator("#nav-queries")).to_contain_text("1")
    expect(page.locator("#dashboard-queries")).to_contain_text(
        "Open data queries at your sites (1)"
    )
    shot(page, "q2-dashboard-coordinator")
    page.locator("#nav-queries").click()
    row = page.locator(f"tr[data-query='{query.pk}']")
    expect(row).to_contain_text("ALT 143.5 U/L of the lab draw of")
    shot(page, "q3-coordinator-list")
    row.get_by_role("link", name=f"Query {query.pk}").click()
    page.get_by_label("Your answer").fill("It is the value the lab sent.")
    page.get_by_role("button", name="Send the answer").click()
    expect(page.get_by_text("Answer sent.")).to_be_visible()
    expect(page.locator("#query-status")).to_contain_text("Answered")
    query.refresh_from_db()
    assert query.status == "answered"
    assert [m.to for m in mail.outbox][-1] == ["max@x.org"]
    sign_out(page)

    # A safety reviewer finds the answer not enough and sends it back.
    page.context.clear_cookies()
    sign_in_as_reviewer(page, base, "rita")
    page.goto(f"{base}/queries/{query.pk}/")
    page.get_by_label("Follow-up question").fill("Please read the value off the signed report.")
    page.get_by_role("button", name="Send back to the site").click()
    expect(page.get_by_text("Query sent back to the site, open again.")).to_be_visible()
    query.refresh_from_db()
    assert query.status == "open"
    assert [m.to for m in mail.outbox][-1] == ["chloe@x.org"]
    sign_out(page)

    # The coordinator corrects the value through the correction form, with its reason.
    sign_in(page, base, "chloe")
    page.goto(f"{base}/queries/{query.pk}/")
    page.get_by_role("link", name=re.compile("Correct ALT")).click()
    expect(page.locator("#query-question")).to_contain_text("seven times the baseline")
    page.get_by_label("Value").fill("14.35")
    page.get_by_label("Reason for the correction").fill(
        "Transcription error: the report says 14.35"
    )
    page.get_by_role("button", name="Save the correction and answer").click()
    expect(page.get_by_text(re.compile("ALT corrected and query \\d+ answered"))).to_be_visible()
    expect(page.locator("#query-steps")).to_contain_text("Corrected: ALT 143.5 U/L → 14.35 U/L")
    expect(page.get_by_text(re.compile("About: ALT 143.5 U/L of the lab draw"))).to_be_visible()
    expect(page.locator("#value-now")).to_have_text("now 14.35 U/L")
    assert LabResult.objects.get(pk=alt.pk).value == Decimal("14.35")
    assert Alert.objects.get(subject=subject, kind="withhold_dose").status == "retracted"
    sign_out(page)

    # The monitor closes it: final.
    sign_in(page, base, "max")
    expect(page.locator("#dashboard-queries")).to_contain_text(
        "Answered queries awaiting your close (1)"
    )
    shot(page, "q4-dashboard-monitor")
    page.locator("#dashboard-queries").get_by_role(
        "link", name=re.compile(f"Query {query.pk}")
    ).click()
    shot(page, "q5-query-answered")
    page.get_by_label("Note (optional)").fill("Corrected at the source: thank you.")
    page.get_by_role("button", name="Close the query").click()
    expect(page.get_by_text("Query closed.")).to_be_visible()
    expect(page.locator("#query-closed")).to_contain_text("A closed query cannot be changed")
    expect(page.locator("form input[name=action]")).to_have_count(0)
    shot(page, "q6-query-closed")
    query.refresh_from_db()
    assert query.status == "closed" and query.closed_by.username == "max"
    assert [s.action for s in query.steps.all()] == [
        "opened",
        "answered",
        "reopened",
        "corrected",
        "closed",
    ]

    # A closed query refuses a change posted all the same, and the service refuses it.
    token = page.locator("form[action='/logout/'] input[name=csrfmiddlewaretoken]").get_attribute(
        "value"
    )
    refused = page.request.post(
        f"{base}/queries/{query.pk}/",
        form={"csrfmiddlewaretoken": token, "action": "send_back", "send_back-follow_up": "More?"},
        headers={"Referer": f"{base}/queries/{query.pk}/"},
    )
    assert "this query is closed and can no longer be changed" in refused.text()
    with pytest.raises(data_queries.QueryClosed):
        data_queries.send_back(query, query.closed_by, "More?")
    assert DataQuery.objects.get().steps.count() == 5

    # The subject's history shows every step: who, when, and what they wrote.
    page.goto(f"{base}/subjects/{subject.pk}/history/")
    history = page.locator(".history-table")
    for text in (
        "Opened: ALT 143.5 U/L is seven times the baseline",
        "Answered: It is the value the lab sent.",
        "Sent back: Please read the value off the signed report.",
        "Answered with a correction: Transcription error: the report says 14.35",
        "Closed: Corrected at the source: thank you.",
        f"Transcription error: the report says 14.35 (answering data query {query.pk})",
    ):
        expect(history).to_contain_text(text)
    shot(page, "q7-history")
