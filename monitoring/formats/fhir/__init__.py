"""HL7 FHIR R4 lab results in: observations.py reads Bundles and Observations, feed.py
checks and writes them as draws and answers, capability.py says what the endpoint takes.

A `transaction` or `batch` Bundle of Observation resources (a DiagnosticReport may group them,
its contained Observations included), or one Observation, is validated with fhir.resources' R4B
models and then checked as a labs CSV row is (subjects/inputs.py, units.py, csv_import): each
Observation's subject.identifier.value is a subject the sender may write to, its code a LOINC
code of an analyte, its valueQuantity a UCUM code of the analyte's units, referenceRange[0].high
the ULN, effectiveDateTime the collection and issued the result time. Observations of one
subject and one effectiveDateTime are one draw. Every problem names its element
(`Bundle.entry[3].resource.valueQuantity.code`). A transaction with one bad entry writes
nothing; a batch writes its good entries. Idempotent on Observation.identifier, else on the
natural key (subject, collection time, analyte); a changed value needs the Observation's `note`
as its reason.
"""
