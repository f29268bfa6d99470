"""OpenAPI generation: required headers, security, the permit of each operation and the error bodies.

The security schemes (`clientToken`, `memberBearer`) are declared in SPECTACULAR_SETTINGS."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class ErrorResponseSerializer(serializers.Serializer):
    error = serializers.CharField()


class ParameterErrorSerializer(serializers.Serializer):
    value = serializers.JSONField(allow_null=True)
    error = serializers.CharField()
    options = serializers.DictField()
    message = serializers.CharField()


class InvalidParametersResponseSerializer(serializers.Serializer):
    error = serializers.CharField()
    details = serializers.DictField(
        required=False, help_text="Mirrors the payload; every leaf is a list of ParameterError"
    )


class BannedResponseSerializer(serializers.Serializer):
    error = serializers.CharField()
    banned_until = serializers.CharField()


def _context_from_path(path: str) -> str | None:
    if "/members/me/" in path or path.endswith("/members/me"):
        return "me"
    if "/members/guest/" in path:
        return "guest"
    if "/members/{member_id}/" in path:
        return "id"
    return None


class ContractAutoSchema(AutoSchema):
    def _member_context(self) -> str | None:
        return _context_from_path(self.path)

    def _permit(self) -> str | None:
        permit = getattr(self.view, "permit", None)
        if isinstance(permit, dict):
            return permit.get(self.method) or permit.get(self._member_context() or "")
        return permit

    def _needs_bearer(self) -> bool:
        return bool(getattr(self.view, "bearer", False)) or self._member_context() == "me"

    def get_description(self):
        description = super().get_description() or ""
        permit = self._permit()
        if permit:
            description = f"{description}\n\n**Permit:** `{permit}`".strip()
        extra = getattr(self.view, "extra_permit_note", None)
        if extra:
            description = f"{description}\n\n{extra}"
        return description

    def get_operation_id(self):
        # Path parameters are part of the id (spectacular drops them), so list and detail paths, and the
        # member contexts, never collide: v1_tokens_by_token_id_get.
        tokens = [
            f"by_{part[1:-1]}" if part.startswith("{") else part.replace("-", "_")
            for part in self.path.strip("/").split("/")
        ]
        tokens = [t.replace("{", "").replace("}", "") for t in tokens if t]
        return "_".join([*tokens, self.method.lower()])

    def get_tags(self):
        tags = getattr(self.view, "schema_tags", None)
        return tags or super().get_tags()

    def get_auth(self):
        if not hasattr(self.view, "permit"):
            return []
        requirement = {"clientToken": []}
        if self._needs_bearer():
            requirement["memberBearer"] = []
        return [requirement]

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if not hasattr(self.view, "permit"):
            return params
        params += [
            OpenApiParameter("X-User-Agent", str, OpenApiParameter.HEADER, required=True, description="Client build"),
            OpenApiParameter("X-Product-Name", str, OpenApiParameter.HEADER, required=True, description="Channel"),
        ]
        if getattr(self.view, "club_scoped", False):
            params.append(
                OpenApiParameter(
                    "X-Loyalty-Club-Slug",
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Must equal the path slug when sent (else 471)",
                )
            )
        if self.method in ("POST", "PUT", "DELETE", "PATCH"):
            params.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="1–255 printable ASCII characters; a retry with the same key replays the first response",  # noqa: E501
                )
            )
        return params

    def get_response_serializers(self):
        responses = super().get_response_serializers()
        if not hasattr(self.view, "permit"):
            return responses
        if not isinstance(responses, dict):
            responses = {"201" if self.method == "POST" and getattr(self.view, "creates", False) else "200": responses}
        errors = {
            "400": ErrorResponseSerializer,
            "401": ErrorResponseSerializer,
            "403": ErrorResponseSerializer,
            "404": ErrorResponseSerializer,
            "413": ErrorResponseSerializer,
            "422": InvalidParametersResponseSerializer,
            "470": ErrorResponseSerializer,
            "471": ErrorResponseSerializer,
        }
        if getattr(self.view, "feature", None):
            errors["402"] = ErrorResponseSerializer
        if self._needs_bearer():
            errors["460"] = ErrorResponseSerializer
        for status, serializer in errors.items():
            responses.setdefault(status, serializer)
        return responses
