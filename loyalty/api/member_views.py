"""Members, member OAuth and member groups endpoints (SPEC §2.2, §3.2, §3.3)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from kit.api.params import parse_body, parse_query
from kit.api.schema import BannedResponseSerializer, ErrorResponseSerializer
from kit.pagination import paginate
from loyalty import selectors
from loyalty.api import member_serializers as s
from loyalty.api.base import LoyaltyAPIView
from loyalty.api.serializers import EmptyResponseSerializer
from loyalty.services import groups, members, oauth

_GROUPS = "BL:Api:MembersGroups:"


# --- Members --------------------------------------------------------------------------------------


class MemberListView(LoyaltyAPIView):
    permit = {"GET": "BL:Api:Members:Index", "POST": "BL:Api:Members:Create"}
    creates = True
    schema_tags = ["Members"]

    @extend_schema(
        parameters=[s.MemberListQuerySerializer],
        responses=s.MemberListResponseSerializer,
        summary="List and search members",
    )
    def get(self, request, lc):
        q = parse_query(s.MemberListQuerySerializer, request.query_params)
        page, info = paginate(
            selectors.member_list(club=request.club, search=q.get("search")),
            page_no=q["page_no"],
            per_page=q["per_page"],
        )
        return Response({"members": [s.member_to_json(m) for m in page], "pagination_info": info})

    @extend_schema(
        request=s.MemberCreateInputSerializer,
        responses={201: s.MemberResponseSerializer},
        summary="Create a member",
    )
    def post(self, request, lc):
        attrs = parse_body(s.MemberCreateInputSerializer, request.data, context={"club": request.club})["member"]
        member = members.member_create(club=request.club, **s.member_changes(attrs))
        return Response({"member": s.member_to_json(member)}, status=201)


class MemberDetailView(LoyaltyAPIView):
    permit = {"GET": "BL:Api:Members:Get", "PUT": "BL:Api:Members:Update", "DELETE": "BL:Api:Members:Destroy"}
    member_id_is_context = True  # the base view loads request.member, 404 `Member#<id> not found`
    schema_tags = ["Members"]

    @extend_schema(responses=s.MemberResponseSerializer, summary="Show a member")
    def get(self, request, lc, member_id):
        return Response({"member": s.member_to_json(request.member)})

    @extend_schema(
        request=s.MemberUpdateInputSerializer,
        responses=s.MemberResponseSerializer,
        summary="Update a member (partial)",
    )
    def put(self, request, lc, member_id):
        attrs = parse_body(s.MemberUpdateInputSerializer, request.data, context={"club": request.club})["member"]
        member = members.member_update(member=request.member, **s.member_changes(attrs))
        return Response({"member": s.member_to_json(member)})

    @extend_schema(responses=EmptyResponseSerializer, summary="Erase a member and everything tied to it")
    def delete(self, request, lc, member_id):
        members.member_delete(member=request.member)
        return Response({})


class MemberMeView(LoyaltyAPIView):
    permit = {"GET": "BL:Api:Members:OAuth:Get", "PUT": "BL:Api:Members:OAuth"}
    bearer = True
    schema_tags = ["Members"]

    @extend_schema(responses=s.MemberResponseSerializer, summary="Show the signed-in member")
    def get(self, request, lc):
        return Response({"member": s.member_to_json(request.member)})

    @extend_schema(
        request=s.MemberSelfUpdateInputSerializer,
        responses={200: s.MemberResponseSerializer, 467: BannedResponseSerializer},
        summary="Update the signed-in member's properties or password (partial) [ext]",
        description="`banned_until` and read-only attributes are ignored. A new password signs the member out "
        "of every other session.",
    )
    def put(self, request, lc):
        attrs = parse_body(s.MemberSelfUpdateInputSerializer, request.data, context={"club": request.club})["member"]
        selectors.member_ensure_not_banned(member=request.member)
        member = members.member_update(
            member=request.member, keep_token_family=request.member_token.family, **s.member_changes(attrs)
        )
        return Response({"member": s.member_to_json(member)})


# --- Member OAuth ---------------------------------------------------------------------------------


class MemberOAuthTokenView(LoyaltyAPIView):
    permit = "BL:Api:Members:OAuth"
    schema_tags = ["Member OAuth"]

    def idempotency_begin(self, request) -> None:
        # Never stored for replay: the response holds live token secrets, which are kept only as digests.
        request.idempotency_record = None

    @extend_schema(
        request=s.MemberOAuthTokenInputSerializer,
        responses={
            200: s.MemberOAuthTokenResponseSerializer,
            461: OpenApiResponse(ErrorResponseSerializer, description="Unknown member or wrong password"),
            462: OpenApiResponse(ErrorResponseSerializer, description="Refresh token invalid, expired or reused"),
        },
        summary="Issue member tokens (password grant) or rotate them (refresh_token grant)",
    )
    def post(self, request, lc):
        body = parse_body(s.MemberOAuthTokenInputSerializer, request.data)
        if body["grant_type"] == "password":
            issued = oauth.oauth_password_grant(
                club=request.club,
                identifier_type=body["identifier_type"],
                identifier=body["identifier"],
                password=body["password"],
            )
        else:
            issued = oauth.oauth_refresh_grant(club=request.club, refresh_token=body["refresh_token"])
        return Response(s.oauth_pair_to_json(issued))


class MemberOAuthRevokeView(LoyaltyAPIView):
    permit = "BL:Api:Members:OAuth"
    schema_tags = ["Member OAuth"]

    @extend_schema(
        request=s.MemberOAuthRevokeInputSerializer,
        responses=EmptyResponseSerializer,
        summary="Revoke a member token pair (give its access or refresh token); always `{}`",
    )
    def post(self, request, lc):
        body = parse_body(s.MemberOAuthRevokeInputSerializer, request.data)
        oauth.oauth_token_revoke(club=request.club, token=body["token"])
        return Response({})


class MemberOAuthTokenInfoView(LoyaltyAPIView):
    permit = "BL:Api:Members:OAuth"
    bearer = True
    schema_tags = ["Member OAuth"]

    @extend_schema(responses=s.MemberOAuthTokenInfoResponseSerializer, summary="Describe the Bearer access token")
    def get(self, request, lc):
        token = request.member_token
        remaining = (token.access_expires_at - timezone.now()).total_seconds()
        return Response(
            {
                "resource_owner_id": token.member_id,
                "scopes": [],
                "expires_in_seconds": max(0, int(remaining)),
                "application": {"uid": None},
                "created_at": int(token.created_at.timestamp()),
            }
        )


# --- Member groups --------------------------------------------------------------------------------


def _group_attrs(request, bare, wrapped) -> dict:
    """Group attributes sent bare (`{name, description}`, as SPEC §3.3 shows them) or wrapped in
    `{"members_group": {...}}` (the shape of the response and of the members API)."""
    if isinstance(request.data, dict) and "members_group" in request.data:
        return parse_body(wrapped, request.data)["members_group"]
    return parse_body(bare, request.data)


class MembersGroupListView(LoyaltyAPIView):
    permit = {"GET": f"{_GROUPS}Index", "POST": f"{_GROUPS}Create"}
    schema_tags = ["Member groups"]

    @extend_schema(
        parameters=[s.MembersGroupListQuerySerializer],
        responses=s.MembersGroupListResponseSerializer,
        summary="List member groups",
    )
    def get(self, request, lc):
        q = parse_query(s.MembersGroupListQuerySerializer, request.query_params)
        page, info = paginate(
            selectors.group_list(club=request.club, search=q.get("search")),
            page_no=q["page_no"],
            per_page=q["per_page"],
        )
        return Response({"members_groups": [s.group_to_json(g) for g in page], "pagination_info": info})

    @extend_schema(
        request=s.MembersGroupCreateInputSerializer,
        responses=s.MembersGroupResponseSerializer,
        summary="Create a member group",
    )
    def post(self, request, lc):
        attrs = _group_attrs(request, s.MembersGroupCreateInputSerializer, s.MembersGroupCreateWrappedInputSerializer)
        group = groups.group_create(club=request.club, **attrs)
        return Response({"members_group": s.group_to_json(group)})


class MembersGroupDetailView(LoyaltyAPIView):
    permit = {"GET": f"{_GROUPS}Get", "PUT": f"{_GROUPS}Update", "DELETE": f"{_GROUPS}Destroy"}
    schema_tags = ["Member groups"]

    @extend_schema(responses=s.MembersGroupResponseSerializer, summary="Show a member group")
    def get(self, request, lc, group_id):
        group = selectors.group_get(club=request.club, group_id=group_id)
        return Response({"members_group": s.group_to_json(group)})

    @extend_schema(
        request=s.MembersGroupUpdateInputSerializer,
        responses=s.MembersGroupResponseSerializer,
        summary="Update a member group (partial)",
    )
    def put(self, request, lc, group_id):
        group = selectors.group_get(club=request.club, group_id=group_id)
        attrs = _group_attrs(request, s.MembersGroupUpdateInputSerializer, s.MembersGroupUpdateWrappedInputSerializer)
        group = groups.group_update(group=group, **attrs)
        return Response({"members_group": s.group_to_json(group)})

    @extend_schema(responses=EmptyResponseSerializer, summary="Delete a member group (its members stay)")
    def delete(self, request, lc, group_id):
        groups.group_delete(group=selectors.group_get(club=request.club, group_id=group_id))
        return Response({})


class MembersGroupMembersView(LoyaltyAPIView):
    permit = {"GET": f"{_GROUPS}Members:List", "POST": f"{_GROUPS}Members:Add", "DELETE": f"{_GROUPS}Members:Remove"}
    schema_tags = ["Member groups"]

    @extend_schema(
        parameters=[s.MembersGroupMemberIdsQuerySerializer],
        responses=s.MembersGroupMemberIdsResponseSerializer,
        summary="List the ids of a group's members",
    )
    def get(self, request, lc, group_id):
        group = selectors.group_get(club=request.club, group_id=group_id)
        q = parse_query(s.MembersGroupMemberIdsQuerySerializer, request.query_params)
        ids, info = paginate(selectors.group_member_ids(group=group), page_no=q["page_no"], per_page=q["per_page"])
        return Response({"member_ids": ids, "pagination_info": info})

    @extend_schema(
        request=s.MembersGroupMemberIdsInputSerializer,
        responses=s.MembersGroupMembersChangeResponseSerializer,
        summary="Add members to a group (idempotent; up to 10 000 ids)",
    )
    def post(self, request, lc, group_id):
        group = selectors.group_get(club=request.club, group_id=group_id)
        body = parse_body(s.MembersGroupMemberIdsInputSerializer, request.data)
        change = groups.group_members_add(group=group, member_ids=body["member_ids"])
        return Response({"not_found": change.not_found})

    @extend_schema(
        request=s.MembersGroupMemberIdsInputSerializer,
        responses=s.MembersGroupMembersChangeResponseSerializer,
        summary="Remove members from a group (idempotent; up to 10 000 ids)",
    )
    def delete(self, request, lc, group_id):
        group = selectors.group_get(club=request.club, group_id=group_id)
        body = parse_body(s.MembersGroupMemberIdsInputSerializer, request.data)
        change = groups.group_members_remove(group=group, member_ids=body["member_ids"])
        return Response({"not_found": change.not_found})


class MemberGroupsView(LoyaltyAPIView):
    # Listing groups, narrowed to one member: the groups Index permit (see docs/decisions.md).
    permit = f"{_GROUPS}Index"
    member_id_is_context = True
    schema_tags = ["Member groups"]

    @extend_schema(responses=s.MemberGroupsResponseSerializer, summary="List the groups a member belongs to")
    def get(self, request, lc, member_id):
        found = selectors.member_groups(member=request.member)
        return Response({"members_groups": [s.group_to_json(g) for g in found]})
