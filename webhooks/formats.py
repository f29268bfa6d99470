"""What one delivery POSTs, by the endpoint's format: one delivery engine (outbox, leases, retries), two
formats.

* `loyalty` (SPEC §10.2): `{id, type, created_at, loyalty_club, data}`, signed in `X-Loyalty-Signature`.
* `placewise_v2` / `placewise_v1`: the published Members Webhooks notifications, authenticated by the
  subscription's secret in `X-Secret-Token`. Each delivery carries one event (`events` / `bulk` of one), so
  per-member order, retries and de-duplication stay those of the outbox; `X-Loyalty-Event-Id` still names it.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from webhooks.models import OutboxEvent, WebhookEndpoint

LOYALTY, PLACEWISE_V1, PLACEWISE_V2 = "loyalty", "placewise_v1", "placewise_v2"
PLACEWISE_FORMATS = (PLACEWISE_V1, PLACEWISE_V2)
SECRET_TOKEN_HEADER = "X-Secret-Token"


def _dumps(payload: dict) -> bytes:
    return json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def placewise_v2(event: OutboxEvent) -> dict[str, Any]:
    data = event.data
    member = data["member"]
    if data["event"]["type"] == "delete":  # "For delete events it contains only id and person_id"
        member = {"id": member["id"], "person_id": member.get("person_id")}
    return {
        "version": 2,
        "events": [
            {
                "event": data["event"],
                "loyalty_club": {"id": data["loyalty_club"]["id"], "slug": data["loyalty_club"]["slug"]},
                "member": member,
                "member_changes": data["member_changes"],
            }
        ],
    }


def _typed(value: Any) -> dict[str, Any]:
    return {"type": "string", "value": None if value is None else str(value)}


def placewise_v1(event: OutboxEvent) -> dict[str, Any]:
    """The deprecated v1 `bulk` item: typed string properties; for a delete only the identifiers and no
    consents."""
    data = event.data
    member = data["member"]
    change = data["event"]["type"]
    if change == "delete":
        properties = {"msisdn": _typed(member.get("msisdn")), "email": _typed(member.get("email"))}
        consents: dict = {}
    else:
        properties = {name: _typed(value) for name, value in member["properties"].items()}
        for name in ("msisdn", "email", "sms_status", "email_status", "push_status", "optin_channel"):
            properties[name] = _typed(member.get(name))
        consents = {slug: {"value": c.get("value")} for slug, c in member["consents"].items()}
    return {
        "version": 1,
        "bulk": [
            {
                "customer_name": data["loyalty_club"]["name"],
                "customer_id": data["loyalty_club"]["id"],
                "event_type": change,
                "external_id": member["id"],
                "properties": properties,
                "consents": consents,
                "created_at": data["event"]["date"],
                "optin_date": member.get("created_at"),
            }
        ],
    }


def request_for(*, event: OutboxEvent, endpoint: WebhookEndpoint, envelope, sign) -> tuple[bytes, dict[str, str]]:
    """(body, the format's own headers) of one attempt. `envelope(event)` and `sign(body)` are the SPEC
    format's body and signature header (defined once, in webhooks.services)."""
    if endpoint.format in PLACEWISE_FORMATS and event.type.startswith("member."):
        payload = placewise_v2(event) if endpoint.format == PLACEWISE_V2 else placewise_v1(event)
        return _dumps(payload), {SECRET_TOKEN_HEADER: endpoint.secret}
    body = envelope(event)
    return body, {"X-Loyalty-Signature": sign(body)}


def gives_up_on(*, endpoint: WebhookEndpoint, status_code: int | None) -> bool:
    """The published deliveries ignore a 4xx answer ("the delivery will be ignored"): no retry."""
    return endpoint.format in PLACEWISE_FORMATS and status_code is not None and 400 <= status_code < 500
