"""The subject list and the alerts queue as django-tables2 tables, and their CSV/XLSX export."""

from datetime import UTC, datetime

import django_tables2 as tables
import django_tables2.utils
from django.core.paginator import Paginator
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from monitoring.formats import exports, spreadsheets
from monitoring.presentation import (
    SEVERITY_BY_RANK,
    multiple,
    severity_badge,
    state_badge,
    status_badge,
)
from subjects import access, site_time


class MomentColumn(tables.Column):
    """A date, or a date-time in the site's clock with its zone (subjects/site_time.py), the
    site found on each row by `site` (an accessor); exports keep the UTC moment. django-tables2's
    DateTimeColumn renders a Django template for every cell: a fifth of the alerts queue's server
    time."""

    def __init__(self, *args, strftime="", site=None, **kwargs):
        self.strftime = strftime
        self.site = tables.A(site) if site else None
        super().__init__(*args, **kwargs)

    def render(self, value, record):
        site = self.site.resolve(record) if self.site else None
        if not isinstance(value, datetime):
            return value.strftime(self.strftime)
        if not self.strftime:
            return site_time.shown(value, site)
        day = value.astimezone(site_time.zone(site)).strftime(self.strftime)
        if not self.site:
            return day
        # The day at the site; the moment with its zone on hover.
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            value.astimezone(UTC).isoformat(),
            site_time.shown(value, site),
            day,
        )

    def value(self, value, record):
        """Exports keep the whole moment in UTC, as DateTimeColumn's do."""
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat(sep=" ")
        return self.render(value, record)


MAX_PER_PAGE = 200


class BoundedTable(tables.Table):
    """A table whose page size from the address (?per_page=) stays within 1..MAX_PER_PAGE: a
    number below 1 gives the table's own size, a larger one MAX_PER_PAGE."""

    def paginate(self, paginator_class=Paginator, per_page=None, page=1, *args, **kwargs):
        if per_page is not None and per_page < 1:
            per_page = None
        elif per_page is not None:
            per_page = min(per_page, MAX_PER_PAGE)
        return super().paginate(paginator_class, per_page, page, *args, **kwargs)


class SubjectTable(BoundedTable):
    subject_id = tables.Column(verbose_name="Subject", linkify=("subject", [tables.A("pk")]))
    site = tables.Column(accessor="site__code", verbose_name="Site")
    arm = tables.Column(accessor="arm__name", verbose_name="Arm", order_by=("arm__code",))
    sex = tables.Column()
    enrolled_on = MomentColumn(
        strftime="%Y-%m-%d", verbose_name="Enrolled", attrs={"td": {"class": "text-nowrap"}}
    )
    state = tables.Column(accessor="safety__state", verbose_name="Safety state", default="")
    regimen = tables.Column(
        accessor="safety__regimen__name",
        verbose_name="Regimen in force",
        default="—",
        order_by=("safety__regimen__code",),
    )
    active_alerts = tables.Column(verbose_name="Active alerts", attrs={"td": {"class": "text-end"}})
    last_draw_at = MomentColumn(
        strftime="%Y-%m-%d",
        site="site",
        verbose_name="Last draw",
        attrs={"td": {"class": "text-nowrap"}},
    )
    last_peak = tables.Column(
        verbose_name="Last ALT/AST", attrs={"td": {"class": "text-end text-nowrap"}}
    )

    class Meta:
        template_name = "django_tables2/hepwatch.html"
        attrs = {"class": "table table-hover align-middle"}
        order_by = ("subject_id",)
        per_page = 25

    def __init__(self, *args, user=None, **kwargs):
        """With `user`, arms and regimens that user may not see show as "Blinded", and their
        columns do not sort (an order by arm would group the subjects by it)."""
        self.user = user
        if user is not None and access.studies_blinded_to(user):
            kwargs["extra_columns"] = [
                ("arm", tables.Column(accessor="arm__name", verbose_name="Arm", orderable=False)),
                (
                    "regimen",
                    tables.Column(
                        accessor="safety__regimen__name",
                        verbose_name="Regimen in force",
                        default="—",
                        orderable=False,
                    ),
                ),
            ]
        super().__init__(*args, **kwargs)

    def sees_arm(self, record):
        return self.user is None or access.sees_arm_of(self.user, record)

    def render_arm(self, record):
        if not self.sees_arm(record):
            return access.BLINDED
        return format_html(
            '<span title="{}">{}</span>', record.arm.name, record.arm.code.capitalize()
        )

    def value_arm(self, record):
        return record.arm.name if self.sees_arm(record) else access.BLINDED

    def render_regimen(self, record, value):
        return value if self.sees_arm(record) else access.BLINDED

    def value_regimen(self, record, value):
        return value if self.sees_arm(record) else access.BLINDED

    def render_state(self, record):
        return state_badge(record.safety.state)

    def value_state(self, record):
        return record.safety.get_state_display() if hasattr(record, "safety") else ""

    def render_active_alerts(self, value, record):
        if not value:
            return format_html('<span class="text-body-tertiary">{}</span>', 0)
        return format_html(
            "{} {}", severity_badge(SEVERITY_BY_RANK[record.worst_rank], label=False), value
        )

    def value_active_alerts(self, value):
        return value

    def render_last_peak(self, value):
        return format_html("{} ULN", multiple(value))

    def value_last_peak(self, value):
        return multiple(value) if value is not None else ""


class AlertTable(BoundedTable):
    select = tables.Column(
        accessor="pk",
        orderable=False,
        exclude_from_export=True,
        verbose_name=mark_safe(
            '<input type="checkbox" class="form-check-input" data-select-all="alerts" '
            'aria-label="Select all open alerts on this page">'
        ),
    )
    severity = tables.Column(order_by=("severity_rank", "due_by"))
    subject = tables.Column(
        accessor="subject__subject_id",
        verbose_name="Subject",
        linkify=lambda record: reverse("subject", args=[record.subject_id]),
    )
    site = tables.Column(accessor="subject__site__code", verbose_name="Site")
    kind = tables.Column(verbose_name="Alert", order_by=("rule", "kind"))
    triggered_at = MomentColumn(site="subject__site", verbose_name="Triggered")
    due_by = MomentColumn(site="subject__site", verbose_name="Due by", default="—")
    status = tables.Column()
    decision_count = tables.Column(verbose_name="Decisions", attrs={"td": {"class": "text-end"}})

    class Meta:
        template_name = "django_tables2/hepwatch.html"
        attrs = {"class": "table table-hover align-middle alert-queue"}
        per_page = 50
        row_attrs = {
            "class": lambda record: "row-overdue" if is_overdue(record) else "",
            "data-alert": lambda record: record.pk,
        }

    def render_select(self, value, record):
        # Bulk acknowledgement is for low and medium alerts; high and critical need a decision.
        if record.status != "open" or record.severity not in ("low", "medium"):
            return ""
        return format_html(
            '<input type="checkbox" class="form-check-input" name="alerts" value="{}" '
            'form="acknowledge-form" aria-label="Select alert {}">',
            value,
            value,
        )

    def render_severity(self, record):
        return severity_badge(record.severity)

    def value_severity(self, record):
        return record.severity

    def render_kind(self, record):
        return format_html(
            '<a href="{}"><span class="rule-id">{}</span> {}</a>',
            reverse("alert", args=[record.pk]),
            record.rule,
            record.get_kind_display(),
        )

    def value_kind(self, record):
        return f"{record.rule} {record.kind}"

    def render_due_by(self, value, record):
        if value is None:
            return "—"
        text = site_time.shown(value, record.subject.site)
        if is_overdue(record):
            return format_html(
                '<span class="overdue"><i class="bi bi-alarm-fill" aria-hidden="true"></i> {} '
                '<span class="badge text-bg-danger">overdue</span></span>',
                text,
            )
        return text

    def value_due_by(self, value, record):
        return self.columns["due_by"].column.value(value, record)

    def render_status(self, value, record):
        return status_badge(record.status, value)

    def value_status(self, value):
        return value


def is_overdue(alert):
    """Set by selectors.alert_pages.alert_queue; see selectors.alert_pages.overdue_q."""
    return getattr(alert, "overdue", False)


def export_response(table, fmt, name):
    """The table's rows (every page, as filtered and sorted) as a CSV or XLSX download, written
    by the study exports' writers: formula-like text is escaped there, once for every export."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return spreadsheets.dataset_download(exports.table_dataset(table, name), fmt, f"{name}-{stamp}")


EXPORT_FORMATS = ("csv", "xlsx")


def query_without(request, *names):
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()
