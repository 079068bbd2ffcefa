"""The FHIR R4 lab feed: POST Bundles or Observations with a bearer token; GET metadata."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from monitoring.formats import csv_import
from monitoring.formats.fhir import capability, feed, observations
from subjects import access, api_tokens

FHIR_JSON = "application/fhir+json"


def answer(data, status=200):
    return JsonResponse(data, status=status, content_type=FHIR_JSON)


def refusal(status, message, code):
    return answer(observations.operation_outcome([observations.Problem("", message, code)]), status)


def sender(request):
    """(user, None) for a live bearer token of a coordinator (or staff), else (None, answer)."""
    user = api_tokens.user_for(api_tokens.bearer(request))
    if user is None:
        response = refusal(401, "a valid bearer token is required", "login")
        response["WWW-Authenticate"] = 'Bearer realm="hepwatch"'
        return None, response
    if not access.can_import_labs(user):
        return None, refusal(403, access.IMPORT_ONLY, "forbidden")
    return user, None


def body(request):
    """The request body read from its stream (at most observations.MAX_BYTES), or an
    OperationOutcome answer for one larger than that."""
    too_large = refusal(413, f"the body is over {observations.MAX_BYTES // 1048576} MB", "too-long")
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > observations.MAX_BYTES:
        return None, too_large
    raw = request.read(observations.MAX_BYTES + 1)
    if len(raw) > observations.MAX_BYTES:
        return None, too_large
    return raw, None


def scope(user):
    study = csv_import.default_study()
    return dict(access.import_scope(user).filter(study=study).values_list("subject_id", "pk"))


def receive(request, *, single):
    user, refused = sender(request)
    if refused:
        return refused
    raw, refused = body(request)
    if refused:
        return refused
    try:
        data = observations.parse_json(raw)
        outcome = feed.receive(data, scope(user), user=user, single=single)
    except observations.FhirError as error:
        status = 413 if any(p.code == "too-long" for p in error.problems) else error.status
        if all(p.code == "not-found" for p in error.problems):
            status = 404 if single else status
        return answer(observations.operation_outcome(error.problems), status)
    if single:
        status, pk = outcome.written[0]
        response = answer({"resourceType": "Observation", "id": str(pk)}, int(status[:3]))
        response["Location"] = f"Observation/{pk}"
        return response
    if not outcome.written:  # a batch of which nothing could be taken
        problems = [p for _, ps in sorted(outcome.problems.items()) for p in ps]
        return answer(observations.operation_outcome(problems), 400)
    return answer(feed.response_bundle(data, outcome))


@csrf_exempt
@require_POST
def bundle(request):
    return receive(request, single=False)


@csrf_exempt
@require_POST
def observation(request):
    return receive(request, single=True)


@require_GET
def metadata(request):
    """The CapabilityStatement; public, as FHIR clients read it before they authenticate."""
    return answer(capability.capability_statement(request.build_absolute_uri("/fhir/r4/")))
