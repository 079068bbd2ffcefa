"""The floor of a draw's entry: the least a view must do to keep one draw with two results and
their audit history, in one transaction (no parsing, no rules, no evaluation request)."""

from datetime import datetime
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.http import require_POST

from monitoring.models import LabDraw, LabResult

ULN = Decimal(41)


@login_required
@require_POST
def write_draw(request, subject_pk):
    collected_at = datetime.fromisoformat(request.POST["collected_at"])
    with transaction.atomic():
        draw = LabDraw.objects.create(
            subject_id=subject_pk,
            collected_at=collected_at,
            resulted_at=collected_at,
            entered_by=request.user,
        )
        for analyte, value in (("ALT", Decimal(150)), ("AST", Decimal(90))):
            LabResult.objects.create(
                draw=draw,
                analyte=analyte,
                value=value,
                unit="U/L",
                value_canonical=value,
                uln=ULN,
                uln_source="default",
                uln_multiple=value / ULN,
            )
    return HttpResponse(status=204)
