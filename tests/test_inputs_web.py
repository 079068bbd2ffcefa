"""Issue 12 through HTTP, as users meet it: the draw, correction and dose forms, the web lab
upload and the CDISC upload refuse implausible values, loose numbers and impossible
date-times with the field and the reason; an upload that would change stored values shows
each old → new value and needs a reason, which the history keeps; reasons need visible text;
odd page sizes never fail a table."""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from monitoring.models import LabDraw, LabResult
from subjects.models import Dose

from . import test_views
from .test_views import NOW, PASSWORD

two_sites = test_views.two_sites

pytestmark = pytest.mark.django_db

ZERO_WIDTH = "\u200b\u200b"
HEADER = "subject_id,collected_at,test,value,unit,uln\n"


def recent(hours=3):
    return (NOW - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def counts():
    return LabDraw.objects.count(), LabResult.objects.count(), Dose.objects.count()


def errors_of(response):
    assert response.status_code == 200
    return {name: " ".join(errors) for name, errors in response.context["form"].errors.items()}


UNITS = {"ALT_unit": "U/L", "AST_unit": "U/L", "ALP_unit": "U/L", "TBIL_unit": "mg/dL"}
UNITS |= {"LDLC_unit": "mg/dL", "APOB_unit": "mg/dL"}


def post_draw(client, w, **data):
    client.force_login(w["coordinator"])
    form = {"collected_at": recent(), **UNITS, **data}
    return client.post(reverse("draw_new", args=[w["own"].pk]), form)


# ---- the draw form -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, field, message",
    [
        (
            {"ALT_value": "100001", "ALT_unit": "U/L"},
            "ALT_value",
            "ALT 100001 U/L is above 100000 U/L, the highest accepted.",
        ),
        (
            {"ALT_value": "1700", "ALT_unit": "ukat/L"},
            "ALT_value",
            "ALT 1700 µkat/L (102000 U/L) is above 100000 U/L",
        ),
        (
            {"ALT_value": "35", "ALT_unit": "U/L", "ALT_uln": "0.5"},
            "ALT_uln",
            "ALT ULN 0.5 U/L is below 1 U/L, the lowest accepted.",
        ),
        (
            {"TBIL_value": "2", "TBIL_unit": "mg/dL", "TBIL_uln": "25"},
            "TBIL_uln",
            "TBIL ULN 25 mg/dL is above 20 mg/dL",
        ),
        (
            {"TBIL_value": "1711", "TBIL_unit": "umol/L"},
            "TBIL_value",
            "is above 100 mg/dL",
        ),
        ({"ALT_value": "1e-20", "ALT_unit": "U/L"}, "ALT_value", "without an exponent"),
        ({"ALT_value": "1e-1000000", "ALT_unit": "U/L"}, "ALT_value", "without an exponent"),
        ({"ALT_value": "1_000", "ALT_unit": "U/L"}, "ALT_value", "without underscores"),
        ({"ALT_value": "１２", "ALT_unit": "U/L"}, "ALT_value", "use the digits 0-9"),
        ({"ALT_value": "٣٠", "ALT_unit": "U/L"}, "ALT_value", "use the digits 0-9"),
        ({"ALT_value": "0.0000000000001", "ALT_unit": "U/L"}, "ALT_value", "rounds to 0"),
        # No unit chosen: the canonical unit the value is saved in, and its limits.
        ({"APOB_value": "16274", "APOB_unit": ""}, "APOB_value", "is above 1000 mg/dL"),
        ({"ALP_value": "0.038515856", "ALP_unit": ""}, "ALP_value", "is below 0.1 U/L"),
    ],
)
def test_draw_form_implausible_or_loose_value_is_refused_naming_field_and_limit(
    client, two_sites, data, field, message
):
    before = counts()
    errors = errors_of(post_draw(client, two_sites, **data))
    assert message in errors.get(field, ""), errors
    assert counts() == before


@pytest.mark.parametrize(
    "moment, message",
    [
        ("0001-01-01T00:00", "before 1900"),
        ("1899-12-31T23:00", "before 1900"),
        ("0001-01-01T00:00+05:00", "outside the years 1900 to now"),
        ("9999-12-31T23:00-05:00", "in the future"),
    ],
)
def test_draw_form_collection_time_outside_1900_to_now_is_refused(
    client, two_sites, moment, message
):
    before = counts()
    response = post_draw(client, two_sites, collected_at=moment, ALT_value="35", ALT_unit="U/L")
    assert message in errors_of(response)["collected_at"]
    assert counts() == before


def test_draw_form_values_at_the_limits_are_saved(client, two_sites):
    response = post_draw(
        client,
        two_sites,
        ALT_value="100000",
        ALT_unit="U/L",
        ALT_uln="1",
        AST_value="0.1",
        AST_unit="U/L",
        AST_uln="1000",
    )
    assert response.status_code == 302, response.context["form"].errors
    draw = LabDraw.objects.filter(subject=two_sites["own"]).order_by("-entered_at").first()
    assert sorted(draw.results.values_list("uln_multiple", flat=True)) == [
        Decimal("0.0001"),
        Decimal(100000),
    ]


# ---- the correction form -------------------------------------------------------------------


def post_correction(client, w, **data):
    client.force_login(w["coordinator"])
    form = {"value": "140", "unit": "U/L", "reported_uln": "", "reason": "typo", **data}
    return client.post(reverse("result_correct", args=[w["result"].pk]), form)


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"value": "100001"}, "value", "ALT 100001 U/L is above 100000 U/L"),
        ({"reported_uln": "1001"}, "reported_uln", "ALT ULN 1001 U/L is above 1000 U/L"),
        ({"value": "1e2"}, "value", "without an exponent"),
        ({"reason": ZERO_WIDTH}, "reason", "A reason is required to change a saved lab value."),
        ({"reason": " \u200b \u2060 "}, "reason", "A reason is required"),
    ],
)
def test_correction_form_refuses_implausible_values_and_invisible_reasons(
    client, two_sites, data, field, message
):
    errors = errors_of(post_correction(client, two_sites, **data))
    assert message in errors.get(field, ""), errors
    assert LabResult.objects.get(pk=two_sites["result"].pk).value == Decimal("143.5")


# ---- the dose form and the decision form -----------------------------------------------------


def post_dose(client, w, **data):
    client.force_login(w["other_coordinator"])
    form = {"administered_at": recent(12), "dose_mg": "200", **data}
    return client.post(reverse("dose_new", args=[w["other"].pk]), form)


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"dose_mg": "10001"}, "dose_mg", "10001 mg is above 10000 mg, the highest accepted."),
        ({"dose_mg": "2e2"}, "dose_mg", "without an exponent"),
        ({"dose_mg": "0.001"}, "dose_mg", "rounds to 0 at the 2 decimals"),
        ({"administered_at": "0001-01-01T00:00+05:00"}, "administered_at", "1900 to now"),
    ],
)
def test_dose_form_refuses_implausible_doses_and_times(client, two_sites, data, field, message):
    before = counts()
    errors = errors_of(post_dose(client, two_sites, **data))
    assert message in errors.get(field, ""), errors
    assert counts() == before


def test_decision_reason_of_zero_width_characters_is_refused(client, two_sites):
    client.force_login(two_sites["reviewer"])
    response = client.post(
        reverse("alert", args=[two_sites["alert"].pk]),
        {"action": "acknowledge", "reason": ZERO_WIDTH, "password": PASSWORD},
    )
    assert "A reason is required." in errors_of(response)["reason"]
    assert not two_sites["alert"].decisions.exists()


# ---- the web lab upload -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.HEPWATCH_UPLOAD_DIR = str(tmp_path)


def upload(client, text):
    file = SimpleUploadedFile("labs.csv", text.encode("utf-8"), content_type="text/csv")
    response = client.post(reverse("lab_import"), {"file": file})
    assert response.status_code == 302
    return re.search(r"t=([0-9a-f]{32})", response["Location"]).group(1)


def preview_of(client, w, text):
    client.force_login(w["coordinator"])
    token = upload(client, text)
    response = client.get(reverse("lab_import_preview"), {"t": token})
    assert response.status_code == 200
    return token, response


def bad_rows(response):
    return [(b.line, b.field, b.reason) for b in response.context["preview"].bad_rows]


def row(w, when=None, test="ALT", value="35", unit="U/L", uln=""):
    when = when or (NOW - timedelta(hours=2)).isoformat()
    return f"{w['own'].subject_id},{when},{test},{value},{unit},{uln}\n"


@pytest.mark.parametrize(
    "when, reason",
    [
        ("9999-12-31T23:00-05:00", "9999-12-31T23:00:00-05:00 is outside the years 1900 to now"),
        ("0001-01-01T00:00+05:00", "0001-01-01T00:00:00+05:00 is outside the years 1900 to now"),
    ],
)
def test_upload_date_time_that_overflows_is_a_bad_row_in_the_preview(
    client, two_sites, when, reason
):
    _, response = preview_of(client, two_sites, HEADER + row(two_sites, when=when))
    assert bad_rows(response) == [(2, "collected_at", reason)]


def test_upload_value_outside_the_limits_and_loose_numbers_are_bad_rows(client, two_sites):
    text = HEADER + row(two_sites, value="100001") + row(two_sites, test="AST", value="1e-20")
    text += row(two_sites, test="TBIL", value="2", unit="mg/dL", uln="0.01")
    _, response = preview_of(client, two_sites, text)
    assert [(line, field) for line, field, _ in bad_rows(response)] == [
        (2, "value"),
        (3, "value"),
        (4, "uln"),
    ]
    assert "100001 U/L is above 100000 U/L" in bad_rows(response)[0][2]


def test_upload_symptoms_maybe_is_a_bad_row(client, two_sites):
    text = HEADER[:-1] + ",symptoms\n" + row(two_sites)[:-1] + ",maybe\n"
    _, response = preview_of(client, two_sites, text)
    assert bad_rows(response) == [(2, "symptoms", "'maybe' is not true or false")]


def test_upload_the_same_row_twice_is_a_bad_row_naming_both_lines(client, two_sites):
    _, response = preview_of(client, two_sites, HEADER + row(two_sites) + row(two_sites))
    assert bad_rows(response) == [(3, "test", "ALT for this draw is on line 2 too (line 3)")]


def tbil_over_stored(w):
    """A file giving the stored draw's ALT (143.5 U/L, 3.5×) as 1.2 µkat/L."""
    stored = w["draw"].collected_at.isoformat()
    return HEADER + row(w, when=stored, value="1.2", unit="ukat/L")


def test_upload_over_stored_values_previews_old_and_new_and_needs_a_reason(client, two_sites):
    token, response = preview_of(client, two_sites, tbil_over_stored(two_sites))
    page = response.content.decode()
    assert "1 stored value would change" in page
    change = response.context["preview"].changes[0]
    assert (change.line, change.old, change.new) == (
        2,
        "143.5 U/L (3.50× ULN)",
        "1.2 µkat/L (1.75× ULN)",
    )
    assert 'name="reason"' in page
    for reason in ("", ZERO_WIDTH):
        refused = client.post(
            reverse("lab_import_confirm"), {"t": token, "action": "import", "reason": reason}
        )
        assert refused.status_code == 400
        assert refused.context["reason_error"]
        assert two_sites["result"].history.count() == 1
    assert LabResult.objects.get(pk=two_sites["result"].pk).value == Decimal("143.5")


def test_upload_over_stored_values_with_a_reason_keeps_it_in_history(
    client, two_sites, django_capture_on_commit_callbacks
):
    token, _ = preview_of(client, two_sites, tbil_over_stored(two_sites))
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            reverse("lab_import_confirm"),
            {"t": token, "action": "import", "reason": "lab reissued the report in SI units"},
        )
    assert done.status_code == 302
    result = LabResult.objects.get(pk=two_sites["result"].pk)
    assert (result.value, result.unit) == (Decimal("1.2"), "ukat/L")
    assert result.history.first().history_change_reason == "lab reissued the report in SI units"


# ---- the CDISC upload ------------------------------------------------------------------------


def cdisc_post(client, *paths, reason=""):
    files = [
        SimpleUploadedFile(Path(p).name, Path(p).read_bytes(), "application/octet-stream")
        for p in paths
    ]
    return client.post(reverse("cdisc_import"), {"cdisc_files": files, "reason": reason})


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("ada", "ada@example.org", "x")
    client.force_login(user)
    return user


def test_cdisc_upload_of_a_truncated_transport_file_is_refused_saying_why(client, staff, tmp_path):
    from .test_cdisc import DM_RECORDS, write_xpt

    path = write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS * 20)
    content = Path(path).read_bytes()
    Path(path).write_bytes(content[:-200])
    response = cdisc_post(client, path)
    assert response.status_code == 400
    assert "cut short" in response.content.decode()
    assert not LabDraw.objects.exists()


def test_cdisc_upload_over_stored_values_lists_them_and_needs_a_reason(client, staff, tmp_path):
    from .test_cdisc import DM_RECORDS, write_xpt

    dm = write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS)
    assert cdisc_post(client, dm).status_code == 200
    changed = write_xpt(tmp_path / "dm2.xpt", "DM", [{**DM_RECORDS[0], "SEX": "M"}])
    refused = cdisc_post(client, changed)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "01-701-1015 sex: F → M" in page and "reason for the change is required" in page
    invisible = cdisc_post(client, changed, reason=ZERO_WIDTH)
    assert invisible.status_code == 400 and "no visible text" in invisible.content.decode()
    done = cdisc_post(client, changed, reason="sponsor's DM correction")
    assert done.status_code == 200
    from subjects.models import Subject

    subject = Subject.objects.get(subject_id="01-701-1015")
    assert subject.sex == "M"
    assert subject.history.first().history_change_reason == "sponsor's DM correction"


# ---- page sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", ["-5", "0", "abc", "10000000000000000000000", "1"])
@pytest.mark.parametrize("page", ["subjects", "alerts"])
def test_a_page_size_from_the_address_never_fails_a_table(client, two_sites, page, per_page):
    client.force_login(two_sites["reviewer"])
    response = client.get(reverse(page), {"per_page": per_page})
    assert response.status_code == 200
