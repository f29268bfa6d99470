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


@register.filter
def ledger_details(details) -> str:
    """A ledger row's details in words: "receipt · Fjord Fashion · 450 kr", "comment: …", "Cinema ticket"."""
    if not isinstance(details, dict) or not details:
        return ""
    parts = []
    if details.get("comment"):
        parts.append(f"“{details['comment']}”")
    if details.get("reward_name"):
        parts.append(details["reward_name"])
    if details.get("grant_type"):
        parts.append(str(details["grant_type"]).replace("_", " "))
    properties = details.get("grant_properties")
    if isinstance(properties, dict):
        parts += [f"{k}: {v}" for k, v in list(properties.items())[:3]]
    for key, label in (("cancelled_transaction_id", "cancels #"), ("expired_transaction_id", "from #")):
        if details.get(key):
            parts.append(f"{label}{details[key]}")
    return " · ".join(parts)


@register.filter
def words(value) -> str:
    """ "reward_purchase" → "Reward purchase"."""
    return str(value).replace("_", " ").capitalize()
