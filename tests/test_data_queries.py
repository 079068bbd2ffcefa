"""Data queries through Django's test client and the service: who may open, answer, close and
send back; what is refused (empty text, a closed query, another site's query); the e-mails,
the audit history, the navigation count, the dashboard and the export."""

import csv
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from openpyxl import load_workbook

from monitoring.formats import audit_trail
from monitoring.models import Alert, DataQuery, DataQueryStep, LabResult
from monitoring.services import data_queries
from monitoring.services.errors import EntryError

from .test_views import two_sites  # noqa: F401 (fixture)
from .world import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(two_sites):  # noqa: F811
    """two_sites with e-mail addresses for the site's coordinator and the monitor."""
    for role, email in (("coordinator", "chloe@example.org"), ("monitor", "max@example.org")):
        two_sites[role].email = email
        two_sites[role].save()
    mail.outbox.clear()  # the fixture's alert e-mailed the reviewer
    return two_sites


def open_on_alt(w, question="ALT 143.5 U/L: please check the lab report."):
    return data_queries.open_query(w["monitor"], w["result"], question)


def post_step(client, query, action, **data):
    fields = {"action": action, **{f"{action}-{k}": v for k, v in data.items()}}
    return client.post(reverse("data_query", args=[query.pk]), fields)


def test_a_monitor_opens_a_query_on_a_result_and_the_sites_coordinators_are_emailed(
    client, w, django_capture_on_commit_callbacks
):
    client.force_login(w["monitor"])
    form = client.get(
        reverse("data_query_new", args=[w["own"].pk]) + f"?on=result-{w['result'].pk}"
    )
    assert f'value="result-{w["result"].pk}" selected' in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("data_query_new", args=[w["own"].pk]),
            {"target": f"result-{w['result'].pk}", "question": "Is ALT 143.5 right?"},
        )
    query = DataQuery.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "data_query", args=[query.pk]
    )
    assert (query.status, query.result, query.subject, query.opened_by) == (
        "open",
        w["result"],
        w["own"],
        w["monitor"],
    )
    [message] = mail.outbox
    assert message.to == ["chloe@example.org"]
    assert "Is ALT 143.5 right?" in message.body
    assert f"http://127.0.0.1:8000/queries/{query.pk}/" in message.body


def test_the_email_links_to_the_query_at_the_configured_address(
    w, settings, django_capture_on_commit_callbacks
):
    settings.HEPWATCH_BASE_URL = "https://hepwatch.example.org/"
    with django_capture_on_commit_callbacks(execute=True):
        query = open_on_alt(w)
    assert f"https://hepwatch.example.org/queries/{query.pk}/" in mail.outbox[0].body


def test_an_empty_question_is_refused_naming_the_field(client, w):
    client.force_login(w["reviewer"])
    response = client.post(
        reverse("data_query_new", args=[w["own"].pk]),
        {"target": f"draw-{w['draw'].pk}", "question": " \u200b "},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Question for the site" in body and "A question is required" in body
    assert not DataQuery.objects.exists()
    with pytest.raises(EntryError) as refused:
        data_queries.open_query(w["monitor"], w["draw"], "")
    assert refused.value.field == "question"


def test_a_query_needs_a_value_of_the_subject_to_be_about(client, w):
    client.force_login(w["monitor"])
    other_dose = w["other"].doses.get()
    response = client.post(
        reverse("data_query_new", args=[w["own"].pk]),
        {"target": f"dose-{other_dose.pk}", "question": "Which dose?"},
    )
    assert "Select a valid choice" in response.content.decode()
    assert not DataQuery.objects.exists()


def test_coordinators_neither_open_nor_close_queries(client, w):
    query = open_on_alt(w)
    client.force_login(w["coordinator"])
    assert client.get(reverse("data_query_new", args=[w["own"].pk])).status_code == 403
    assert post_step(client, query, "close", note="done").status_code == 403
    assert post_step(client, query, "send_back", follow_up="more").status_code == 403
    with pytest.raises(EntryError):
        data_queries.open_query(w["coordinator"], w["result"], "Mine?")
    with pytest.raises(EntryError):
        data_queries.close(query, w["coordinator"], "done")
    query.refresh_from_db()
    assert query.status == "open" and query.steps.count() == 1


def test_monitors_and_reviewers_cannot_answer(client, w):
    query = open_on_alt(w)
    for role in ("monitor", "reviewer"):
        client.force_login(w[role])
        assert post_step(client, query, "answer", answer="It is right").status_code == 403
        correct = reverse("data_query_correct", args=[query.pk, w["result"].pk])
        assert client.get(correct).status_code == 403
        with pytest.raises(EntryError):
            data_queries.answer(query, w[role], "It is right")
    query.refresh_from_db()
    assert query.status == "open"


def test_another_sites_coordinator_finds_no_such_query(client, w):
    query = open_on_alt(w)
    client.force_login(w["other_coordinator"])
    assert client.get(reverse("data_query", args=[query.pk])).status_code == 404
    assert post_step(client, query, "answer", answer="Fine").status_code == 404
    correct = reverse("data_query_correct", args=[query.pk, w["result"].pk])
    assert client.post(correct, {"value": "14.35", "unit": "U/L", "reason": "x"}).status_code == 404
    listing = client.get(reverse("data_queries") + "?status=all").content.decode()
    assert "MIP-001" not in listing
    with pytest.raises(EntryError):
        data_queries.answer(query, w["other_coordinator"], "Fine")
    query.refresh_from_db()
    assert query.status == "open"


def test_the_coordinator_answers_by_correcting_the_value_with_its_reason(
    client, w, django_capture_on_commit_callbacks
):
    query = open_on_alt(w)
    assert Alert.objects.get(subject=w["own"], kind="withhold_dose").status == "open"
    client.force_login(w["coordinator"])
    page = client.get(reverse("data_query", args=[query.pk])).content.decode()
    correct = reverse("data_query_correct", args=[query.pk, w["result"].pk])
    assert correct in page
    assert "ALT 143.5 U/L: please check the lab report." in client.get(correct).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            correct, {"value": "14.35", "unit": "U/L", "reason": "Typo: the lab report says 14.35"}
        )
    assert response.status_code == 302
    query.refresh_from_db()
    assert query.status == "answered" and query.answered_at is not None
    step = query.steps.last()
    assert (step.action, step.author, step.text) == (
        "corrected",
        w["coordinator"],
        "Typo: the lab report says 14.35",
    )
    assert step.correction == "ALT 143.5 U/L → 14.35 U/L" and step.corrected_result == w["result"]
    result = LabResult.objects.get(pk=w["result"].pk)
    assert result.value == Decimal("14.35")
    assert result.history.first().history_change_reason == (
        f"Typo: the lab report says 14.35 (answering data query {query.pk})"
    )
    # The normal correction re-evaluated the subject: the 3.5× alert is retracted.
    assert Alert.objects.get(subject=w["own"], kind="withhold_dose").status == "retracted"
    assert [m.to for m in mail.outbox] == [["max@example.org"]]
    assert "Corrected: ALT 143.5 U/L → 14.35 U/L" in mail.outbox[0].body


def test_a_correction_answers_only_an_open_query_about_that_value(client, w):
    query = open_on_alt(w)
    ast = w["draw"].results.get(analyte="AST")
    client.force_login(w["coordinator"])
    assert client.get(reverse("data_query_correct", args=[query.pk, ast.pk])).status_code == 404
    data_queries.answer(query, w["coordinator"], "Checked: right")
    response = client.get(reverse("data_query_correct", args=[query.pk, w["result"].pk]))
    assert response.status_code == 302
    assert "only an open query is answered" in client.get(response["Location"]).content.decode()


def test_a_query_on_a_draw_is_answered_by_correcting_one_of_its_results(w):
    query = data_queries.open_query(w["reviewer"], w["draw"], "Which ALT is right?")
    data_queries.answer_by_correction(
        query,
        w["coordinator"],
        w["result"],
        value=Decimal("41"),
        unit="U/L",
        reported_uln=None,
        reason="Lab re-sent the report",
    )
    query.refresh_from_db()
    assert query.status == "answered" and query.steps.last().corrected_result == w["result"]


def test_an_empty_answer_is_refused_naming_the_field(client, w):
    query = open_on_alt(w)
    client.force_login(w["coordinator"])
    response = post_step(client, query, "answer", answer="   ")
    assert response.status_code == 400
    assert "An answer is required" in response.content.decode()
    query.refresh_from_db()
    assert query.status == "open"


def test_an_answer_not_enough_is_sent_back_open_and_the_next_answer_is_closed(
    client, w, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        query = open_on_alt(w)
        client.force_login(w["coordinator"])
        post_step(client, query, "answer", answer="It is what the lab sent.")
        client.force_login(w["monitor"])
        page = client.get(reverse("data_query", args=[query.pk])).content.decode()
        assert "Send back to the site" in page
        response = post_step(client, query, "send_back", follow_up="   ")
        assert "A follow-up question is required" in response.content.decode()
        post_step(client, query, "send_back", follow_up="Please attach the report's value.")
        query.refresh_from_db()
        assert query.status == "open" and query.answered_at is None
        client.force_login(w["coordinator"])
        post_step(client, query, "answer", answer="Report says 143.5; confirmed with the lab.")
        # Another monitor or reviewer may close it, not only the one who opened it.
        client.force_login(w["reviewer"])
        post_step(client, query, "close", note="")
    query.refresh_from_db()
    assert (query.status, query.closed_by) == ("closed", w["reviewer"])
    assert [(s.action, s.author) for s in query.steps.all()] == [
        ("opened", w["monitor"]),
        ("answered", w["coordinator"]),
        ("reopened", w["monitor"]),
        ("answered", w["coordinator"]),
        ("closed", w["reviewer"]),
    ]
    assert query.steps.last().text == "answer accepted"
    # Opened and sent back: to the site; answered: to who asked; closed: no e-mail.
    assert [(m.to, m.subject.split(" ")[1]) for m in mail.outbox] == [
        (["chloe@example.org"], "Data"),
        (["max@example.org"], "Query"),
        (["chloe@example.org"], "Query"),
        (["max@example.org"], "Query"),
    ]
    assert "Please attach the report's value." in mail.outbox[2].body


def test_an_unanswered_query_is_closed_only_with_a_note(client, w):
    query = open_on_alt(w)
    client.force_login(w["monitor"])
    response = post_step(client, query, "close", note="")
    assert response.status_code == 400
    assert "a query nobody answered is closed only with a note saying why" in (
        response.content.decode()
    )
    post_step(client, query, "close", note="Opened on the wrong subject.")
    query.refresh_from_db()
    assert query.status == "closed"
    assert query.steps.last().text == "Opened on the wrong subject."


def test_an_open_query_cannot_be_sent_back(w):
    query = open_on_alt(w)
    with pytest.raises(EntryError) as refused:
        data_queries.send_back(query, w["monitor"], "More?")
    assert refused.value.field == "status"


def test_a_closed_query_cannot_be_changed(client, w):
    query = open_on_alt(w)
    data_queries.answer(query, w["coordinator"], "Right as entered.")
    data_queries.close(query, w["monitor"], "Accepted.")
    steps = list(query.steps.values_list("pk", "action", "text"))
    history = query.history.count()
    for change in (
        lambda: data_queries.answer(query, w["coordinator"], "Again"),
        lambda: data_queries.close(query, w["monitor"], "Again"),
        lambda: data_queries.send_back(query, w["monitor"], "Again?"),
        lambda: data_queries.answer_by_correction(
            query,
            w["coordinator"],
            w["result"],
            value=Decimal("1"),
            unit="U/L",
            reported_uln=None,
            reason="late",
        ),
    ):
        with pytest.raises(data_queries.QueryClosed):
            change()
    client.force_login(w["monitor"])
    response = post_step(client, query, "send_back", follow_up="One more thing")
    assert (
        "this query is closed and can no longer be changed"
        in client.get(response["Location"]).content.decode()
    )
    page = client.get(reverse("data_query", args=[query.pk])).content.decode()
    assert "A closed query cannot be changed" in page and 'name="action"' not in page
    client.force_login(w["coordinator"])
    post_step(client, query, "answer", answer="Late answer")
    query.refresh_from_db()
    assert query.status == "closed"
    assert list(query.steps.values_list("pk", "action", "text")) == steps
    assert query.history.count() == history
    assert LabResult.objects.get(pk=w["result"].pk).value == Decimal("143.5")


def test_the_admin_shows_a_closed_query_and_changes_nothing(client, w):
    query = open_on_alt(w)
    data_queries.close(query, w["monitor"], "Opened in error.")
    staff = make_user("sam", is_staff=True, is_superuser=True)
    client.force_login(staff)
    url = reverse("admin:monitoring_dataquery_change", args=[query.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(url, {"question": "Rewritten", "status": "open"}).status_code == 403
    assert client.get(reverse("admin:monitoring_dataquery_add")).status_code == 403
    assert (
        client.get(reverse("admin:monitoring_dataquery_delete", args=[query.pk])).status_code == 403
    )
    query.refresh_from_db()
    assert (query.status, query.question) == (
        "closed",
        "ALT 143.5 U/L: please check the lab report.",
    )


def test_the_history_page_and_the_audit_trail_show_every_step(client, w):
    query = open_on_alt(w)
    data_queries.answer(query, w["coordinator"], "Checked the report: 143.5 is right.")
    data_queries.close(query, w["monitor"], "Thank you.")
    client.force_login(w["reviewer"])
    page = client.get(reverse("subject_history", args=[w["own"].pk])).content.decode()
    assert page.count(f"Data query {query.pk}") == 3
    for text in (
        "Opened: ALT 143.5 U/L: please check the lab report.",
        "Answered: Checked the report: 143.5 is right.",
        "Closed: Thank you.",
    ):
        assert text in page
    rows = list(audit_trail.rows(w["own"].__class__.objects.filter(pk=w["own"].pk)))
    steps = [r for r in rows if r[4] == f"Data query {query.pk}"]
    assert {(r[2], r[8]) for r in steps} == {
        ("max", "Opened: ALT 143.5 U/L: please check the lab report."),
        ("Chloe Coord", "Answered: Checked the report: 143.5 is right."),
        ("max", "Closed: Thank you."),
    }
    assert ["status", "Open", "Answered"] in [r[5:8] for r in steps]


def test_open_queries_show_on_the_subject_page_next_to_the_queried_row(client, w):
    query = open_on_alt(w)
    dose = w["own"].doses.get()
    data_queries.open_query(w["reviewer"], dose, "Was it 200 mg?")
    client.force_login(w["coordinator"])
    page = client.get(reverse("subject", args=[w["own"].pk])).content.decode()
    assert "Data queries not yet closed (2)" in page
    assert "Dose of 200 mg on" in page
    assert page.count(f'href="/queries/{query.pk}/"') == 2  # the list, and ALT's cell
    draw_page = client.get(reverse("draw", args=[w["draw"].pk])).content.decode()
    assert f'href="/queries/{query.pk}/"' in draw_page
    data_queries.close(query, w["monitor"], "Withdrawn: read the wrong line.")
    page = client.get(reverse("subject", args=[w["own"].pk])).content.decode()
    assert "Data queries not yet closed (1)" in page and f'href="/queries/{query.pk}/"' not in page


def test_the_navigation_and_dashboard_show_what_waits_for_each_role(client, w):
    query = open_on_alt(w)
    client.force_login(w["coordinator"])
    page = client.get(reverse("dashboard")).content.decode()
    assert "Open data queries at your sites (1)" in page and f"Query {query.pk} · MIP-001" in page
    assert '1<span class="visually-hidden"> waiting for you</span>' in page
    client.force_login(w["other_coordinator"])
    page = client.get(reverse("dashboard")).content.decode()
    assert "Open data queries at your sites (0)" in page and "waiting for you</span>" not in page
    data_queries.answer(query, w["coordinator"], "Right as entered.")
    client.force_login(w["monitor"])
    page = client.get(reverse("dashboard")).content.decode()
    assert "Answered queries awaiting your close (1)" in page
    waiting = client.get(reverse("data_queries")).content.decode()
    assert f'data-query="{query.pk}"' in waiting
    client.force_login(w["reviewer"])  # did not ask: nothing waits for them
    assert (
        "Answered queries awaiting your close (0)"
        in client.get(reverse("dashboard")).content.decode()
    )


def test_the_queries_export_from_the_list_and_the_exports_page(client, w):
    query = open_on_alt(w)
    data_queries.answer(query, w["coordinator"], "=checked")
    client.force_login(w["monitor"])
    body = client.get(reverse("data_queries") + "?status=all&export=csv").content.decode()
    [row] = list(csv.DictReader(io.StringIO(body)))
    assert row["query_id"] == str(query.pk) and row["status"] == "answered"
    assert row["about"].startswith("ALT 143.5 U/L of the lab draw of ")
    assert row["answer"] == "'=checked" and row["answered_by"] == "Chloe Coord"
    exports_page = client.get(reverse("study_exports")).content.decode()
    xlsx = reverse("study_export_download", kwargs={"name": "queries", "fmt": "xlsx"})
    assert xlsx in exports_page
    sheet = load_workbook(io.BytesIO(client.get(xlsx).content))["queries"]
    header, first = ([c.value for c in row] for row in sheet.iter_rows(max_row=2))
    assert dict(zip(header, first, strict=True))["question"] == (
        "ALT 143.5 U/L: please check the lab report."
    )
    assert DataQueryStep.objects.filter(query=query).count() == 2


def test_the_normal_correction_form_points_to_the_open_query_on_its_value(client, w):
    query = open_on_alt(w)
    client.force_login(w["coordinator"])
    page = client.get(reverse("result_correct", args=[w["result"].pk])).content.decode()
    assert reverse("data_query_correct", args=[query.pk, w["result"].pk]) in page
