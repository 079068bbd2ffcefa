"""Sponsor data in CDISC formats, SDTM DM, EX, LB and ADaM ADSL, ADLB, as SAS XPORT v5 or CSV.

Each file's dataset is told by its variables, not its name (datasets.py). Like the CSV import
(monitoring/formats/csv_import.py), each file is read and checked whole, then written in one
transaction through the same writers; a bad record stops its file with
`FILE:NUMBER: VARIABLE: reason` (NUMBER is the CSV line, or the XPORT record counted from 1) and
nothing of that file is written. Imports are idempotent on natural keys. The modules: datasets
(reading and recognising files), values (field parsers), subject_level (DM, ADSL, arms),
exposure (EX), labs (LB, ADLB) and transfer (the import of several files in order).

How the data maps, and the choices the standards leave open:

- Study: STUDYID (created when new, with the arms found in the data); without STUDYID, the
  default study. Subject ID: USUBJID, or SUBJID where USUBJID is only "STUDYID-SUBJID" (what
  hepwatch's own SDTM export writes), so a round trip keeps the IDs. EX and LB find a subject
  by either form.
- Birth date: BRTHDTC when it is a full date. Otherwise from AGE (in years) at the reference
  date (RFSTDTC, else RFICDTC, else DMDTC, else the enrolment date): the middle of the dates of
  birth that give that age on that day, so the age on any later day is never more than half a
  year off and is exact on the reference date. A partial BRTHDTC without AGE: mid-year
  (YYYY -> 1 July) or mid-month (YYYY-MM -> the 15th).
- Arms: ARMCD/ARM (DM; in ADSL, ARMCD/ARM when present, else TRT01A, else TRT01P), matched to
  the study's arms by code, then by name, without regard to case. A new arm takes its dose and
  frequency from its name when the name says them ("70 mg three times weekly"; "Placebo" is
  0 mg); what the name does not say comes from EX, as the most frequent dose and frequency of
  the arm's administrations ("Xanomeline High Dose" -> 81 mg, 7 a week). Less than weekly
  dosing (Q2W) has no whole number per week and stays 0.
- Screen failures: ARMCD SCRNFAIL, ARM "Screen Failure", ARMNRS "SCREEN FAILURE" or "NOT
  ASSIGNED", or no arm at all: imported with Subject.screen_failure set, on an arm of their own
  (0 mg, 0 a week). A subject with an arm but no RFSTDTC is "assigned, not treated", not a
  screen failure. Enrolment: RFSTDTC, else (not dosed) RFICDTC, DMDTC or RFPENDTC.
- EX: each record's EXSTDTC..EXENDTC (both days included) is expanded by EXDOSFRQ into
  administrations at EXSTDTC's time of day (00:00 UTC for a date); BID adds +12 h, TID +8/16 h,
  QID +6/12/18 h; "3 TIMES PER WEEK" gives days 1, 3 and 5 of each week from EXSTDTC. A record
  without EXENDTC is one administration at EXSTDTC: the rest of it is unknown and inventing
  doses would raise false dosing alerts. XPORT's 5.4e-79 for a placebo's 0 is 0 mg
  (monitoring/formats/xpt.py). Two records giving one subject a dose at one time: merged when
  the dose is the same, an error naming both records when not.
- LB: LBORRES/LBORRESU/LBORNRHI when the result is numeric in a unit hepwatch converts (the
  value as the laboratory reported it, exact), else LBSTRESN/LBSTRESU/LBSTNRHI; LBDTC.
  ADLB: AVAL; the unit from AVALU, else from PARAM's last parentheses ("Bilirubin (umol/L)"),
  else LBSTRESU; ULN from A1HI, else ANRHI, else LBSTNRHI; ADTM, else ADT (with ATM), else
  LBDTC. Test codes: ALT, AST, ALP, BILI (or TBIL) -> TBIL, LDL (or LDLC) -> LDLC, APOB; every
  other test is skipped and counted. A date without a time is 00:00 UTC. A record repeating
  another (same subject, test, time, value and ULN: an "End of Treatment" copy, or a visit
  counted twice) is merged; two different values for one test at one time are an error naming
  both records.
- What every import accepts (subjects/inputs.py): values, ULNs and doses within the
  plausibility limits, plain decimals, date-times from 1900 to now, a birth date on or before
  enrolment; a subject twice in DM or ADSL names both records; a file that would change stored
  values needs a reason, kept in the audit history.
"""

from monitoring.formats.cdisc.datasets import Dataset, open_dataset
from monitoring.formats.cdisc.transfer import Outcome, import_files

__all__ = ["Dataset", "Outcome", "import_files", "open_dataset"]
