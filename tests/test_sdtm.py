"""CDISC SDTM DM, EX and LB: every required and expected variable is a column, no required value
is empty, dates are ISO 8601, one USUBJID per subject; LB carries the tests, units, ranges,
baseline flags, CTCAE grades and study days the issue lists."""

import csv
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.formats import sdtm

pytestmark = pytest.mark.django_db

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
COUNTRIES = ["--country", "S01=GBR", "--country", "S02=FRA"]


@pytest.fixture
def files(world, tmp_path):
    call_command("export_sdtm", "--output-dir", str(tmp_path), *COUNTRIES)
    tables = {}
    for domain in ("DM", "EX", "LB"):
        with open(tmp_path / f"{domain.lower()}.csv", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            tables[domain] = (reader.fieldnames, list(reader))
    return tables


@pytest.mark.parametrize("domain", ["DM", "EX", "LB"])
def test_every_required_and_expected_variable_is_present_and_no_required_value_is_empty(
    files, domain
):
    header, rows = files[domain]
    for name, core in sdtm.DOMAINS[domain]:
        if core in (sdtm.REQ, sdtm.EXP):
            assert name in header, name
    assert rows
    for i, row in enumerate(rows, start=1):
        assert row["DOMAIN"] == domain
        for name in sdtm.required(domain):
            assert row[name] != "", (domain, i, name)


def test_the_issues_lb_variables_are_all_there(files):
    header, _ = files["LB"]
    listed = "LBTESTCD LBORRES LBORRESU LBSTRESN LBSTRESU LBORNRHI LBSTNRHI LBNRIND LBBLFL"
    for name in (listed + " LBTOXGR LBLOINC LBDTC LBDY").split():
        assert name in header


def test_dm_has_one_record_and_one_usubjid_per_subject(files, world):
    _, rows = files["DM"]
    assert sorted(r["USUBJID"] for r in rows) == ["MIPO-01-MIP-001", "MIPO-01-MIP-002"]
    own = next(r for r in rows if r["SUBJID"] == "MIP-001")
    assert (own["SITEID"], own["SEX"], own["COUNTRY"]) == ("S01", "M", "GBR")
    assert (own["ARMCD"], own["ACTARMCD"], own["AGEU"]) == ("STANDARD", "STANDARD", "YEARS")
    assert ISO_DATETIME.match(own["RFSTDTC"]) and ISO_DATE.match(own["BRTHDTC"])
    assert int(own["AGE"]) == 55 or int(own["AGE"]) == 56  # born 1970-05-01


def test_every_usubjid_in_ex_and_lb_is_in_dm(files):
    subjects = {r["USUBJID"] for r in files["DM"][1]}
    assert {r["USUBJID"] for r in files["EX"][1]} == subjects
    assert {r["USUBJID"] for r in files["LB"][1]} == subjects


def test_ex_records_each_dose_with_study_days_from_the_first_dose(files):
    _, rows = files["EX"]
    own = [r for r in rows if r["USUBJID"] == "MIPO-01-MIP-001"]
    assert [r["EXSEQ"] for r in own] == [str(i) for i in range(1, 7)]
    assert [r["EXSTDY"] for r in own] == ["1", "8", "15", "22", "29", "36"]
    assert {(r["EXTRT"], r["EXDOSE"], r["EXDOSU"], r["EXDOSFRQ"]) for r in own} == {
        ("MIPOMERSEN", "200", "mg", "QW")
    }
    assert all(ISO_DATETIME.match(r["EXSTDTC"]) for r in rows)


def test_lb_rows_carry_units_ranges_flags_grades_and_days(files):
    _, rows = files["LB"]
    assert {r["LBTESTCD"] for r in rows} == {"ALT", "AST", "ALP", "BILI", "LDL", "APOB"}
    own = [r for r in rows if r["USUBJID"] == "MIPO-01-MIP-001"]
    seqs = [int(r["LBSEQ"]) for r in own]
    assert seqs == list(range(1, len(own) + 1))
    peak = next(r for r in own if r["LBTESTCD"] == "ALT" and r["LBORRES"] == "164")
    assert (peak["LBORRESU"], peak["LBSTRESN"], peak["LBSTRESU"]) == ("U/L", "164", "U/L")
    assert (peak["LBORNRHI"], peak["LBSTNRHI"], peak["LBNRIND"]) == ("41", "41", "HIGH")
    assert (peak["LBTOXGR"], peak["LBLOINC"], peak["LBBLFL"]) == ("2", "1742-6", "")
    assert ISO_DATETIME.match(peak["LBDTC"]) and int(peak["LBDY"]) > 1
    bili = next(r for r in own if r["LBTESTCD"] == "BILI" and r["LBORRES"] == "3")
    assert bili["LBTOXGR"] == "2" and bili["LBNRIND"] == "HIGH"  # 2.5× ULN
    # The baseline draw (before the first dose) is flagged, one per test, on a negative day.
    baseline = [r for r in own if r["LBBLFL"] == "Y"]
    assert sorted(r["LBTESTCD"] for r in baseline) == ["ALP", "ALT", "APOB", "AST", "BILI", "LDL"]
    assert {r["LBDY"] for r in baseline} == {"-1"}
    assert all(r["LBDY"] != "0" for r in rows)
    ldl = next(r for r in baseline if r["LBTESTCD"] == "LDL")
    assert ldl["LBNRIND"] == "" and ldl["LBTOXGR"] == "" and ldl["LBSTNRHI"] == ""


def test_a_reported_uln_in_si_units_gives_both_original_and_standard_ranges(world, tmp_path):
    from decimal import Decimal

    from monitoring.services import lab_entry

    lab_entry.record_draw(
        world["other"],
        world["other"].draws.last().collected_at.replace(hour=11),
        [lab_entry.ResultEntry("ALT", Decimal("1.2"), "ukat/L", Decimal("0.55"))],
    )
    (row,) = [r for r in sdtm.lb().rows if r["LBORRESU"] == "ukat/L" and r["LBTESTCD"] == "ALT"]
    assert (row["LBORRES"], row["LBORNRHI"]) == ("1.2", "0.55")
    assert (row["LBSTRESN"], row["LBSTNRHI"], row["LBSTRESU"]) == ("72", "33", "U/L")


def test_export_sdtm_refuses_to_write_dm_without_a_country_for_each_site(world, tmp_path):
    with pytest.raises(CommandError, match="COUNTRY is required.*S01, S02"):
        call_command("export_sdtm", "--output-dir", str(tmp_path))
    assert not (tmp_path / "dm.csv").exists()
    call_command("export_sdtm", "--output-dir", str(tmp_path), "--default-country", "NLD")
    with open(tmp_path / "dm.csv", encoding="utf-8") as handle:
        assert {r["COUNTRY"] for r in csv.DictReader(handle)} == {"NLD"}


def test_dm_takes_country_from_the_site_so_export_sdtm_needs_no_country(world, tmp_path):
    from subjects.models import Site

    Site.objects.filter(code="S01").update(country="JPN")
    Site.objects.filter(code="S02").update(country="DEU")
    call_command("export_sdtm", "--output-dir", str(tmp_path))
    with open(tmp_path / "dm.csv", encoding="utf-8") as handle:
        by_site = {r["SITEID"]: r["COUNTRY"] for r in csv.DictReader(handle)}
    assert by_site == {"S01": "JPN", "S02": "DEU"}
    call_command("export_sdtm", "--output-dir", str(tmp_path), "--country", "S02=FRA")
    with open(tmp_path / "dm.csv", encoding="utf-8") as handle:
        by_site = {r["SITEID"]: r["COUNTRY"] for r in csv.DictReader(handle)}
    assert by_site == {"S01": "JPN", "S02": "FRA"}


def test_a_subject_never_dosed_is_assigned_not_treated(world):
    world["other"].doses.all().delete()
    row = next(
        r for r in sdtm.dm(countries={"S01": "GBR", "S02": "FRA"}).rows if r["SUBJID"] == "MIP-002"
    )
    assert (row["ARMCD"], row["ACTARMCD"], row["ARMNRS"]) == (
        "REDUCED",
        "",
        "ASSIGNED, NOT TREATED",
    )
    assert row["RFSTDTC"] == ""
