"""Every URL pattern, walked as every role and as a coordinator of another site: the expected
status, and nothing of another site in any page, export, chart or search result. A new URL
pattern without a line in EXPECTED fails the walk."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from monitoring.services import data_queries

from .test_views import two_sites  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "coordinator", "other_coordinator", "reviewer", "monitor")

# name -> statuses for GET as (anonymous, own coordinator, other site's coordinator, reviewer,
# monitor). 302 for anonymous is the redirect to sign-in.
EXPECTED = {
    "dashboard": (302, 200, 200, 200, 200),
    "login": (200, 302, 302, 302, 302),
    "logout": (405, 405, 405, 405, 405),
    # Two-factor sign-in (tests/test_two_factor.py): the client's force_login passes it for the
    # reviewer, so every signed-in role is sent on; password reset is for everyone.
    "two_factor_verify": (302, 302, 302, 302, 302),
    "two_factor_enrol": (302, 302, 302, 302, 302),
    "two_factor_recovery_codes": (302, 200, 200, 200, 200),
    "password_reset": (200, 200, 200, 200, 200),
    "password_reset_done": (200, 200, 200, 200, 200),
    "password_reset_confirm": (200, 200, 200, 200, 200),
    "password_reset_complete": (200, 200, 200, 200, 200),
    "subjects": (302, 200, 200, 200, 200),
    "subject": (302, 200, 404, 200, 200),
    "subject_status": (302, 200, 404, 200, 200),
    "subject_history": (302, 200, 404, 200, 200),
    "subject_unblind": (302, 405, 405, 405, 405),  # POST, signed (tests/test_blinding.py)
    "draw_new": (302, 200, 404, 403, 403),
    "dose_new": (302, 200, 404, 403, 403),  # rules v2: no reviewer override; doses are the site's
    "draw": (302, 200, 404, 200, 200),
    "result_correct": (302, 200, 404, 403, 403),
    "alerts": (302, 200, 200, 200, 200),
    "alerts_acknowledge": (302, 405, 405, 405, 405),
    "alert": (302, 200, 404, 200, 200),
    "rules": (302, 200, 200, 200, 200),
    "study_report": (302, 403, 403, 200, 200),
    "study_report_pdf": (302, 403, 403, 200, 200),
    "study_exports": (302, 403, 403, 200, 200),
    "study_export_download": (302, 403, 403, 200, 200),
    "subject_report_pdf": (302, 200, 404, 200, 200),
    "subject_report_csv": (302, 200, 404, 200, 200),
    "lab_import": (302, 200, 200, 403, 403),
    "lab_import_preview": (302, 302, 302, 403, 403),
    "lab_import_confirm": (302, 405, 405, 405, 405),
    "cdisc_import": (302, 405, 405, 405, 405),
    "healthz": ("health",) * 5,
    # The FHIR feed takes POSTs with a bearer token (tests/test_fhir.py); metadata is public.
    "fhir_bundle": (405, 405, 405, 405, 405),
    "fhir_observation": (405, 405, 405, 405, 405),
    "fhir_metadata": (200, 200, 200, 200, 200),
    # The read API (tests/test_api.py): 401 without a session or a token.
    "api_subject-list": (401, 200, 200, 200, 200),
    "api_subject-detail": (401, 200, 404, 200, 200),
    "api_alert-list": (401, 200, 200, 200, 200),
    "api_alert-detail": (401, 200, 404, 200, 200),
    "api_case-list": (401, 200, 200, 200, 200),
    "api_schema": (401, 200, 200, 200, 200),
    "api_docs": (401, 200, 200, 200, 200),
    # Export jobs (tests/test_export_jobs.py): a job is its asker's alone; none is walked here.
    "export_job_new": (302, 405, 405, 405, 405),
    "export_job": (302, 403, 403, 404, 404),
    "export_job_status": (302, 403, 403, 404, 404),
    "export_job_download": (302, 403, 403, 404, 404),
    # Data queries (tests/test_data_queries.py): monitors and reviewers open them, the site's
    # coordinators answer (a correction's form is theirs alone).
    "data_queries": (302, 200, 200, 200, 200),
    "data_query_new": (302, 403, 403, 200, 200),
    "data_query": (302, 200, 404, 200, 200),
    "data_query_correct": (302, 200, 404, 403, 403),
}
HEALTH = (200, 503)  # /healthz needs no sign-in; 503 while no worker has sent a heartbeat


def url_names():
    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.app_name != "admin":
                    yield from walk(p.url_patterns)
            elif isinstance(p, URLPattern):
                yield p.name

    return set(walk(get_resolver().url_patterns))


def url_for(name, w):
    subject, draw = w["own"].pk, w["draw"].pk
    args = {
        "subject": [subject],
        "subject_status": [subject],
        "subject_history": [subject],
        "subject_unblind": [subject],
        "data_query_new": [subject],
        "draw_new": [subject],
        "dose_new": [subject],
        "subject_report_pdf": [subject],
        "subject_report_csv": [subject],
        "draw": [draw],
        "result_correct": [w["result"].pk],
        "alert": [w["alert"].pk],
        "api_subject-detail": [subject],
        "api_alert-detail": [w["alert"].pk],
    }.get(name, [])
    if name == "password_reset_confirm":
        return reverse(name, args=["MQ", "no-such-token"])
    if name == "export_job_new":
        return reverse(name, args=["audit"])
    if name in ("export_job", "export_job_status", "export_job_download"):
        return reverse(name, args=[999999])
    if name == "data_query_correct":
        return reverse(name, args=[w["query"].pk, w["result"].pk])
    if name == "data_query":
        return reverse(name, args=[w["query"].pk])
    if name == "study_export_download":
        return reverse(name, kwargs={"name": "subjects", "fmt": "csv"})
    return reverse(name, args=args)


def as_role(client, w, role):
    client.logout()
    if role != "anonymous":
        client.force_login(w[role])
    return client


def test_every_url_pattern_has_an_expectation():
    assert url_names() == set(EXPECTED)


@pytest.fixture
def walked(two_sites):  # noqa: F811
    """two_sites with an open data query on the own subject's ALT, from the monitor."""
    query = data_queries.open_query(two_sites["monitor"], two_sites["result"], "Is 143.5 right?")
    return {**two_sites, "query": query}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_url_answers_each_role_as_expected(client, walked, name):
    url = url_for(name, walked)
    got = []
    for role in ROLES:
        response = as_role(client, walked, role).get(url)
        got.append(
            "health"
            if response.status_code in HEALTH and name == "healthz"
            else response.status_code
        )
        if role == "anonymous" and response.status_code == 302:
            assert response["Location"].startswith(reverse("login")), url
    assert tuple(got) == EXPECTED[name], f"{url}: {dict(zip(ROLES, got, strict=True))}"


LISTINGS = [
    "/",
    "/subjects/",
    "/subjects/?export=csv",
    "/subjects/?export=xlsx",
    "/subjects/?q=001",
    "/alerts/",
    "/alerts/?export=csv",
    "/alerts/?export=xlsx",
    "/alerts/?q=001",
    "/subjects/?site=1",
    "/labs/import/",
    "/api/v1/subjects/",
    "/queries/?status=all",
    "/queries/?status=all&export=csv",
    "/queries/?status=all&export=xlsx",
]


@pytest.mark.parametrize("url", LISTINGS)
def test_nothing_of_another_site_leaks_into_a_coordinators_pages_or_exports(client, walked, url):
    other_draw = walked["other"].draws.first()
    data_queries.open_query(walked["monitor"], other_draw, "Was this drawn fasting?")
    response = as_role(client, walked, "other_coordinator").get(url)
    assert response.status_code == 200
    body = b"".join(response) if response.streaming else response.content
    if url.endswith("xlsx"):
        import io
        import zipfile

        with zipfile.ZipFile(io.BytesIO(body)) as book:
            body = b"".join(book.read(n) for n in book.namelist())
    assert b"MIP-001" not in body, f"{url} shows another site's subject"
    assert b"MIP-002" in body or url.endswith(("=001", "import/")), url


@pytest.mark.parametrize("url", ["/subjects/?q=001", "/alerts/?q=001"])
def test_the_search_finds_the_subject_for_someone_who_may_see_it(client, two_sites, url):  # noqa: F811
    body = as_role(client, two_sites, "reviewer").get(url).content
    assert b"MIP-001" in body and b"MIP-002" not in body


def test_the_admin_is_closed_to_every_role_but_staff(client, two_sites):  # noqa: F811
    for role in ROLES[1:]:
        response = as_role(client, two_sites, role).get("/admin/subjects/subject/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"], role
