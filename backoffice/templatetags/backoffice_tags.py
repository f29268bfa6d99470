"""Number formatting for the back office pages (no dependency on django.contrib.humanize)."""

from django import template

register = template.Library()


@register.filter
def thousands(value) -> str:
    """12345 → "12,345"; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


@register.filter
def percent_of(part, whole) -> str:
    """ "85%" (no decimals), "—" when the whole is 0."""
    try:
        return f"{round(100 * part / whole)}%" if whole else "—"
    except TypeError:
        return "—"
