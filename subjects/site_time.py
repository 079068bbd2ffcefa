"""A site's clock: forms take its local time, pages show it with its zone; the database and the
files stay in UTC. A local time that a daylight-saving change skips or repeats is refused."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms


def zone(site) -> ZoneInfo:
    return ZoneInfo(getattr(site, "time_zone", "") or "UTC")


def shown(moment, site) -> str:
    """'2026-03-02 09:30 JST' in the site's zone ('— ' for none)."""
    if not moment:
        return "—"
    local = moment.astimezone(zone(site))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def to_utc(naive: datetime, site) -> datetime:
    """The UTC instant of a wall-clock time at the site; ValueError when the site's clock skips
    it (spring forward) or shows it twice (fall back)."""
    tz = zone(site)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if back != naive:
            raise ValueError(
                f"{naive:%Y-%m-%d %H:%M} does not exist in {tz.key} (clocks go forward)"
            )
        raise ValueError(
            f"{naive:%Y-%m-%d %H:%M} happens twice in {tz.key} (clocks go back): "
            "enter it in UTC on the draw's record, or a minute outside that hour"
        )
    return first.astimezone(UTC)


class SiteDateTimeField(forms.DateTimeField):
    """A date-time typed in the site's local time (a datetime-local picker), cleaned to UTC."""

    def __init__(self, *args, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.site = site

    def prepare_value(self, value):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(zone(self.site)).replace(tzinfo=None)
        return value

    def to_python(self, value):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value
        text = (value or "").strip() if isinstance(value, str) else value
        if text in (None, ""):
            return None
        naive = None
        for fmt in self.input_formats:
            try:
                naive = datetime.strptime(text, fmt)
                break
            except (TypeError, ValueError):
                continue
        if naive is None:
            try:
                naive = datetime.fromisoformat(text)
            except ValueError:
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid"
                ) from None
        if naive.tzinfo is not None or not 1900 <= naive.year < 9999:
            # An offset given, or a year check_moment refuses anyway: no zone to apply.
            return naive if naive.tzinfo is not None else naive.replace(tzinfo=UTC)
        try:
            return to_utc(naive, self.site)
        except ValueError as exc:
            raise forms.ValidationError(f"{exc}.", code="invalid") from None


def localise(form, names, site, *, now=()):
    """Make these DateTimeFields of `form` take the site's local time; their labels say so.
    The fields named in `now` start at the present moment."""
    from django.utils import timezone

    tz = zone(site)
    for name in names:
        old = form.fields[name]
        field = SiteDateTimeField(
            label=old.label if tz.key == "UTC" else old.label.replace("(UTC)", f"({tz.key} time)"),
            widget=old.widget,
            required=old.required,
            help_text=old.help_text,
            initial=timezone.now().replace(second=0, microsecond=0) if name in now else old.initial,
            site=site,
        )
        form.fields[name] = field
