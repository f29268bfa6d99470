"""The base API view. `initial()` applies the request precedence of SPEC §1.3:

470/471 headers → 401 client token → [429 rate limit, when enabled] → 404 club → 402 feature → 403 permit →
460 member token → 404 member (by id) — and the view's handler then does 404 resource → 422 parameters →
business rules.
Each view declares its permit in one line, next to the handler.

Writes sent with `Idempotency-Key` (SPEC §10.1) are claimed at the end of `initial()` — after every
authentication and permit check, so 470/401/403/460 answers are never stored — and their response is
stored in `finalize_response()` (or the claim released on a 5xx so that a retry runs again).
"""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.views import APIView

from kit.api.body import request_body_gate
from kit.api.headers import header
from kit.api.throttling import rate_limit_check
from kit.db.races import lost_a_delete_race
from kit.errors import (
    REASON_PHRASES,
    ClubNotFound,
    MissingPermit,
    OffersDisabled,
    RewardsDisabled,
)
from loyalty import idempotency, selectors
from loyalty.api.authentication import ClientTokenAuthentication, member_from_bearer

FEATURE_ERRORS = {
    "offers": ("offers_enabled", OffersDisabled),
    "rewards": ("rewards_enabled", RewardsDisabled),
}


# DRF builds new authenticator, parser and renderer instances for every request (`get_authenticators()` …);
# ours keep no state between calls, so each view class shares one set, made on its first request.
_shared: dict[tuple, tuple] = {}


def _shared_instances(classes) -> list:
    key = tuple(classes)
    instances = _shared.get(key)
    if instances is None:
        instances = _shared[key] = tuple(cls() for cls in key)
    return list(instances)


_allowed: dict[type, tuple[str, ...]] = {}


class _IdempotentReplay(Exception):
    """Raised from `initial()` to answer with the stored first response instead of running the handler."""

    def __init__(self, stored: idempotency.StoredResponse):
        self.stored = stored


class LoyaltyAPIView(APIView):
    """Base for every API endpoint.

    * `permit`: the permit name, or a dict keyed by HTTP method (`"GET"`) or member context
      (`"me"`, `"id"`, `"guest"`) for views serving several.
    * `club_scoped`: the path carries `{lc}` (default) — resolves `request.club`, 404 when unknown.
    * `feature`: `"offers"` or `"rewards"` → 402 when disabled for the club.
    * Member context comes from the URL (`ctx` kwarg, see `loyalty.api.urls.member_context_paths`):
      `me` authenticates the Bearer token (460), `id` loads the member by id (404), `guest` has none.
      `bearer = True` requires the Bearer token on views without a context segment.
    * POST/PUT/PATCH/DELETE honour `Idempotency-Key` (see the module docstring and `loyalty.idempotency`).
    """

    authentication_classes = [ClientTokenAuthentication]
    permission_classes: list = []
    permit: str | dict[str, str] | None = None
    club_scoped = True
    feature: str | None = None
    bearer = False

    def get_authenticators(self):
        return _shared_instances(self.authentication_classes)

    def get_parsers(self):
        return _shared_instances(self.parser_classes)

    def get_renderers(self):
        return _shared_instances(self.renderer_classes)

    def get_content_negotiator(self):
        return _shared_instances((self.content_negotiation_class,))[0]

    @property
    def allowed_methods(self):
        """The `Allow` header's methods (the handlers the class defines), computed once per class."""
        methods = _allowed.get(type(self))
        if methods is None:
            methods = _allowed[type(self)] = tuple(self._allowed_methods())
        return list(methods)

    def member_context(self) -> str | None:
        ctx = self.kwargs.get("ctx")
        if ctx is None and "member_id" in self.kwargs and getattr(self, "member_id_is_context", False):
            return "id"
        return ctx

    def required_permits(self, request) -> list[str]:
        permit = self.permit
        if isinstance(permit, dict):
            permit = permit.get(request.method) or permit.get(self.member_context() or "")
        return [permit] if permit else []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # headers and client token, via the authentication class
        rate_limit_check(client_token_id=request.auth.pk)  # 429, when API_RATE_LIMIT_PER_MINUTE is set
        club = getattr(request, "club", None)
        if self.club_scoped:
            if club is None:
                raise ClubNotFound()
            if self.feature:
                flag, error = FEATURE_ERRORS[self.feature]
                if not getattr(club, flag):
                    raise error()
        permits = request.auth.effective_permits
        for permit in self.required_permits(request):
            if permit not in permits:
                raise MissingPermit(permit)
        request.member = None
        ctx = self.member_context()
        if ctx == "me" or self.bearer:
            request.member = member_from_bearer(request, club=club)
        elif ctx == "id":
            request.member = selectors.member_get(club=club, member_id=self.kwargs["member_id"])
        # 413 / 400 for every body, also on handlers that never read theirs (delete, like, purchase…): a
        # write must not run on a request the API refuses elsewhere (SPEC §1.2, §1.3).
        request_body_gate(request._request)
        self.idempotency_begin(request)

    # --- Idempotency keys (SPEC §10.1) ----------------------------------------------------------------

    def idempotency_begin(self, request) -> None:
        """Claim the request's idempotency key, or replay / refuse (409, 422) per the earlier request."""
        request.idempotency_record = None
        raw_key = header(request, idempotency.HEADER)
        if raw_key is None or request.method not in idempotency.METHODS or not hasattr(self, request.method.lower()):
            return
        key = idempotency.idempotency_key_validate(raw_key)
        outcome = idempotency.idempotency_key_claim(
            client_token=request.auth,
            scope=self.kwargs.get("lc") or "",
            key=key,
            method=request.method,
            path=request.get_full_path(),
            body=request.body,  # read before the parser; DRF then parses from the cached bytes
        )
        if isinstance(outcome, idempotency.StoredResponse):
            raise _IdempotentReplay(outcome)
        request.idempotency_record = outcome

    # --- Races with deletes (kit.db.races) ----------------------------------------------------------------

    max_runs = 5  # a delete racing a stream of writes may miss the newest rows a few times over
    _runs = 1

    def _run_again(self, request):
        """The whole request once more (checks, lookups, handler): its first run was rolled back whole."""
        record = getattr(request, "idempotency_record", None)
        if record is not None:
            request.idempotency_record = None
            idempotency.idempotency_key_release(record=record)
        self._runs += 1
        try:
            self.initial(request, *self.args, **self.kwargs)
            handler = getattr(self, request.method.lower(), self.http_method_not_allowed)
            return handler(request, *self.args, **self.kwargs)
        except Exception as exc:
            return self.handle_exception(exc)

    def handle_exception(self, exc):
        if lost_a_delete_race(exc) and self._runs < self.max_runs:
            return self._run_again(self.request)
        if isinstance(exc, _IdempotentReplay):
            response = HttpResponse(exc.stored.body, status=exc.stored.status, content_type="application/json")
            if exc.stored.status in REASON_PHRASES:
                response.reason_phrase = REASON_PHRASES[exc.stored.status]
            response[idempotency.REPLAYED_HEADER] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record = getattr(request, "idempotency_record", None)
        if record is not None:
            request.idempotency_record = None
            if response.status_code >= 500 or response.status_code == 429:
                # Not an answer to the request but a failure to answer it: let a retry run.
                idempotency.idempotency_key_release(record=record)
            else:
                if not getattr(response, "is_rendered", True):
                    response.render()
                idempotency.idempotency_key_complete(record=record, status=response.status_code, body=response.content)
        return response

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except BaseException:
            # Only reached when the error escaped DRF's handler or the response could not be stored.
            record = getattr(getattr(self, "request", None), "idempotency_record", None)
            if record is not None:
                idempotency.idempotency_key_release(record=record)
            raise
