"""The read API for integrators: subjects with their state and regimen, alerts and cases with
their decisions; each scoped to the sites the caller may see (subjects.access), signed in by
session or bearer token (settings.REST_FRAMEWORK), described by an OpenAPI schema."""

from django.db.models import Prefetch
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from monitoring.models import Alert, Decision
from monitoring.selectors import alert_pages
from subjects import access


class BearerScheme(OpenApiAuthenticationExtension):
    """The bearer token of `manage.py create_api_token`, in the schema."""

    target_class = "subjects.api_tokens.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}


class RegimenSerializer(serializers.Serializer):
    """A regimen; in a blinded study, code and name "Blinded" and no dose or frequency."""

    code = serializers.CharField()
    name = serializers.CharField()
    dose_mg = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    administrations_per_week = serializers.IntegerField(allow_null=True)


BLINDED_REGIMEN = {
    "code": access.BLINDED,
    "name": access.BLINDED,
    "dose_mg": None,
    "administrations_per_week": None,
}


def sees_arm(serializer, subject) -> bool:
    """Whether the caller may see this subject's arm (subjects.access)."""
    request = serializer.context.get("request")
    return request is not None and access.sees_arm_of(request.user, subject)


class SubjectSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    subject_id = serializers.CharField()
    site = serializers.CharField(source="site.code")
    sex = serializers.CharField()
    arm = serializers.SerializerMethodField()
    enrolled_on = serializers.DateField()
    state = serializers.SerializerMethodField()
    regimen = serializers.SerializerMethodField()

    def get_arm(self, subject) -> str:
        return subject.arm.code if sees_arm(self, subject) else access.BLINDED

    def get_state(self, subject) -> str:
        safety = getattr(subject, "safety", None)
        return safety.state if safety else "dosing"

    @extend_schema_field(RegimenSerializer(allow_null=True))
    def get_regimen(self, subject) -> dict | None:
        safety = getattr(subject, "safety", None)
        regimen = safety.regimen if safety and safety.regimen else subject.arm.regimen
        if regimen is None:
            return None
        return RegimenSerializer(regimen).data if sees_arm(self, subject) else BLINDED_REGIMEN


class DecisionSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.get_username", allow_null=True)
    regimen = serializers.SerializerMethodField()
    alerts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    def get_regimen(self, decision) -> str | None:
        if decision.regimen is None:
            return None
        return decision.regimen.code if sees_arm(self, decision.subject) else access.BLINDED

    class Meta:
        model = Decision
        fields = ["id", "action", "regimen", "reason", "signed_at", "reviewer", "transcribed"]
        fields += ["alerts"]


class AlertSerializer(serializers.ModelSerializer):
    subject_id = serializers.CharField(source="subject.subject_id")
    site = serializers.CharField(source="subject.site.code")
    decisions = DecisionSerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "subject_id",
            "site",
            "kind",
            "rule",
            "severity",
            "status",
            "triggered_at",
            "due_by",
            "opened_at",
            "case_at",
            "explanation",
            "decisions",
        ]


class CaseSerializer(serializers.Serializer):
    subject_id = serializers.CharField(source="subject.subject_id")
    site = serializers.CharField(source="subject.site.code")
    started_at = serializers.DateTimeField()
    is_open = serializers.BooleanField()
    severity = serializers.CharField()
    needs = serializers.CharField()
    alerts = AlertSerializer(many=True)


def visible_alerts(user):
    return (
        Alert.objects.filter(subject__in=access.visible_subjects(user))
        .select_related("subject__site", "subject__study")
        .prefetch_related(
            Prefetch(
                "decisions",
                Decision.objects.select_related(
                    "reviewer", "regimen", "subject__study"
                ).prefetch_related("alerts"),
            )
        )
        .order_by("subject__subject_id", "triggered_at", "rule")
    )


class SubjectViewSet(viewsets.ReadOnlyModelViewSet):
    """Subjects the caller may see, with their safety state and the regimen in force."""

    serializer_class = SubjectSerializer
    queryset = None

    def get_queryset(self):
        return (
            access.visible_subjects(self.request.user)
            .select_related("site", "study", "arm__regimen", "safety__regimen")
            .order_by("subject_id")
        )


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts of the subjects the caller may see, retracted ones included, with decisions."""

    serializer_class = AlertSerializer
    queryset = None

    def get_queryset(self):
        return visible_alerts(self.request.user)


class CaseViewSet(viewsets.ViewSet):
    """Cases (an episode's alerts, DESIGN section 3) of the subjects the caller may see."""

    serializer_class = CaseSerializer

    @extend_schema(responses=CaseSerializer(many=True))
    def list(self, request):
        found = alert_pages.cases(visible_alerts(request.user))
        return Response(CaseSerializer(found, many=True, context={"request": request}).data)
