"""What the FHIR endpoint takes, as a CapabilityStatement."""

from monitoring.formats.fhir.observations import SYMPTOMS_EXTENSION


def capability_statement(base_url):
    """What this server takes: Observations, alone or in transaction and batch Bundles."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "kind": "instance",
        "software": {"name": "hepwatch"},
        "implementation": {"description": "hepwatch lab results feed", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Authorization: Bearer <token> from manage.py create_api_token"
                },
                "resource": [
                    {
                        "type": "Observation",
                        "interaction": [{"code": "create"}],
                        "documentation": (
                            "Symptoms of liver injury at the draw: the extension "
                            f"{SYMPTOMS_EXTENSION} with a valueBoolean."
                        ),
                    },
                    {"type": "DiagnosticReport", "interaction": []},
                ],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
