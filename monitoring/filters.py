import django_filters

from monitoring.models import KIND_CHOICES, SEVERITY_CHOICES, STATE_CHOICES, Alert
from subjects import access
from subjects.models import Arm, Site, Subject

ACTIVE = "active"
STATUS_CHOICES = [(ACTIVE, "Open or acknowledged"), *Alert.Status.choices, ("all", "All")]


def _sites(request):
    if request is None:
        return Site.objects.none()
    return access.visible_sites(request.user)


def _arms(request):
    """The arms the user may see: none of a blinded study's, unless unblinded."""
    if request is None:
        return Arm.objects.none()
    return access.arms_seen(request.user)


class SubjectFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        field_name="subject_id", lookup_expr="icontains", label="Subject ID"
    )
    site = django_filters.ModelChoiceFilter(queryset=_sites, empty_label="All sites")
    arm = django_filters.ModelChoiceFilter(queryset=_arms, empty_label="All arms")
    state = django_filters.ChoiceFilter(
        field_name="safety__state",
        choices=STATE_CHOICES,
        label="Safety state",
        empty_label="All states",
    )

    class Meta:
        model = Subject
        fields = []

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        blinded = request is not None and access.studies_blinded_to(request.user)
        if blinded and not _arms(request).exists():
            del self.filters["arm"]  # a blinded user filters by nothing an arm would reveal


class AlertFilter(django_filters.FilterSet):
    severity = django_filters.ChoiceFilter(choices=SEVERITY_CHOICES, empty_label="All severities")
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", empty_label=None, label="Status"
    )
    site = django_filters.ModelChoiceFilter(
        field_name="subject__site", queryset=_sites, empty_label="All sites", label="Site"
    )
    kind = django_filters.ChoiceFilter(choices=KIND_CHOICES, empty_label="All kinds")
    overdue = django_filters.ChoiceFilter(
        method="filter_overdue",
        label="Overdue",
        choices=[("true", "Overdue only"), ("false", "Not overdue")],
        empty_label="Any",
    )
    q = django_filters.CharFilter(
        field_name="subject__subject_id", lookup_expr="icontains", label="Subject ID"
    )

    def __init__(self, data=None, *args, **kwargs):
        data = data.copy() if data is not None else {}
        data.setdefault("status", ACTIVE)
        super().__init__(data, *args, **kwargs)

    def filter_status(self, queryset, name, value):
        if value == ACTIVE:
            return queryset.filter(status__in=(Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED))
        if value == "all":
            return queryset
        return queryset.filter(status=value)

    def filter_overdue(self, queryset, name, value):
        from monitoring.selectors.alert_pages import overdue_q

        if value == "true":
            return queryset.filter(overdue_q())
        if value == "false":
            return queryset.exclude(overdue_q())
        return queryset

    class Meta:
        model = Alert
        fields = []
