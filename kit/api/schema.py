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
                    description=(
                        "1–255 printable ASCII characters. The first response for (client token, club, key) is "
                        "kept for 24 h: a retry with the same method, path and body replays it (with header "
                        "`Idempotent-Replayed: true`) without doing the work again; the same key with another "
                        "method, path or body answers 422; a retry while the first request runs answers 409."
                    ),
                )
            )
        return params

    def get_response_serializers(self):
        return self._contract_responses(super().get_response_serializers())

    def _get_response_bodies(self, direction="response"):
        # `@extend_schema(responses=...)` replaces get_response_serializers() in a subclass of this class,
        # bypassing the override above; applying the contract here reaches every operation.
        responses = self._contract_responses(self.get_response_serializers())
        bodies = {}
        for code, serializer in responses.items():
            # `(200, "image/png")`: a status with its own media types (a binary answer).
            code, media_types = (str(code[0]), code[1:]) if isinstance(code, tuple) else (str(code), None)
            bodies[code] = self._get_response_for_code(serializer, code, media_types, direction=direction)
        return bodies

    def _contract_responses(self, responses):
        """The view's responses keyed by status (200, or 201 for creates; DELETE answers a body too), plus
        the contract's error bodies."""
        if not hasattr(self.view, "permit"):
            return responses if isinstance(responses, dict) else {"200": responses}
        if isinstance(responses, dict):
            responses = {
                code if isinstance(code, tuple) else str(code): serializer for code, serializer in responses.items()
            }
        else:
            responses = {"201" if self.method == "POST" and getattr(self.view, "creates", False) else "200": responses}
        errors = {
            "400": ErrorResponseSerializer,
            "401": ErrorResponseSerializer,
            "403": ErrorResponseSerializer,
            "404": ErrorResponseSerializer,
            "413": ErrorResponseSerializer,
            "422": InvalidParametersResponseSerializer,
            "429": ErrorResponseSerializer,  # optional rate limit, with Retry-After (SPEC §1.3)
            "470": ErrorResponseSerializer,
            "471": ErrorResponseSerializer,
        }
        if getattr(self.view, "feature", None):
            errors["402"] = ErrorResponseSerializer
        if self._needs_bearer():
            errors["460"] = ErrorResponseSerializer
        if getattr(self.view, "feature", None) == "rewards" and self._member_context() in ("me", "id"):
            errors["480"] = ErrorResponseSerializer  # member has not joined the program (SPEC §6.1)
        if self.method in ("POST", "PUT", "DELETE", "PATCH"):
            errors["409"] = ErrorResponseSerializer  # Idempotency-Key still in flight (SPEC §10.1)
        for status, serializer in errors.items():
            responses.setdefault(status, serializer)
        return responses
