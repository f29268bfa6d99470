"""The base API view. `initial()` applies the request precedence of SPEC §1.3:

470/471 headers → 401 client token → 404 club → 402 feature → 403 permit → 460 member token →
404 member (by id) — and the view's handler then does 404 resource → 422 parameters → business rules.
Each view declares its permit in one line, next to the handler.
"""

from __future__ import annotations

from rest_framework.views import APIView

from loyalty import selectors
from loyalty.api.authentication import ClientTokenAuthentication, member_from_bearer
from loyalty.exceptions import ClubNotFound, MissingPermit, OffersDisabled, RewardsDisabled

FEATURE_ERRORS = {
    "offers": ("offers_enabled", OffersDisabled),
    "rewards": ("rewards_enabled", RewardsDisabled),
}


class LoyaltyAPIView(APIView):
    """Base for every API endpoint.

    * `permit`: the permit name, or a dict keyed by HTTP method (`"GET"`) or member context
      (`"me"`, `"id"`, `"guest"`) for views serving several.
    * `club_scoped`: the path carries `{lc}` (default) — resolves `request.club`, 404 when unknown.
    * `feature`: `"offers"` or `"rewards"` → 402 when disabled for the club.
    * Member context comes from the URL (`ctx` kwarg, see `loyalty.api.urls.member_context_paths`):
      `me` authenticates the Bearer token (460), `id` loads the member by id (404), `guest` has none.
      `bearer = True` requires the Bearer token on views without a context segment.
    """

    authentication_classes = [ClientTokenAuthentication]
    permission_classes: list = []
    permit: str | dict[str, str] | None = None
    club_scoped = True
    feature: str | None = None
    bearer = False

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
