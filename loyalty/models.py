"""Core models: loyalty clubs, API client tokens, members, member OAuth tokens and member groups."""

from __future__ import annotations

import zoneinfo

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone


def _empty_list():
    return []


class LoyaltyClub(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone name, e.g. Europe/Oslo")
    default_language = models.CharField(max_length=10, default="en")
    offers_enabled = models.BooleanField(default=True)
    rewards_enabled = models.BooleanField(default=True)
    activated_seconds_time = models.PositiveIntegerField(
        default=30, help_text="How long an offer stays active after a use, in seconds"
    )
    usage_authorization_tokens = models.JSONField(
        default=_empty_list,
        blank=True,
        help_text="Club-wide offer usage authorization tokens (list of strings)",
    )
    access_token_ttl_seconds = models.PositiveIntegerField(default=86400)
    refresh_token_ttl_seconds = models.PositiveIntegerField(default=31536000)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "loyalty club"
        constraints = [
            models.CheckConstraint(condition=models.Q(access_token_ttl_seconds__gt=0), name="club_access_ttl_positive"),
            models.CheckConstraint(
                condition=models.Q(refresh_token_ttl_seconds__gt=0), name="club_refresh_ttl_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ClientToken(models.Model):
    """An API client token. The secret is never stored: only its SHA-256 digest and a display prefix."""

    name = models.CharField(max_length=200)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=8, editable=False, help_text="First characters, for recognition")
    permits = models.JSONField(default=_empty_list, blank=True)
    policies = models.JSONField(default=_empty_list, blank=True)
    loyalty_club_ids = models.JSONField(
        null=True,
        blank=True,
        default=None,
        help_text="null: valid for every club; otherwise a list of club ids",
    )
    product = models.CharField(
        max_length=100,
        null=True,
        blank=True,
        help_text="Empty: any product; otherwise must equal X-Product-Name",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "API client token"

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    @property
    def effective_permits(self) -> frozenset[str]:
        from loyalty.permits import expand

        cached = self.__dict__.get("_effective_permits")
        if cached is None:
            cached = expand(self.permits or [], [p for p in (self.policies or [])])
            self.__dict__["_effective_permits"] = cached
        return cached

    def allows_club(self, club_id: int) -> bool:
        return self.loyalty_club_ids is None or club_id in self.loyalty_club_ids


class Member(models.Model):
    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="members")
    email = models.EmailField(max_length=254, null=True, blank=True)
    msisdn = models.CharField(max_length=15, null=True, blank=True, help_text="E.164 digits, no +")
    first_name = models.CharField(max_length=100, null=True, blank=True)
    last_name = models.CharField(max_length=100, null=True, blank=True)
    birthday = models.DateField(null=True, blank=True)
    language = models.CharField(max_length=10, null=True, blank=True)
    gender = models.CharField(max_length=20, null=True, blank=True, help_text="Published members API property")
    # {"<consent slug>": {"status": bool, "updated_at": "<ISO 8601>"}}, the published Member model's consents.
    # Nullable (read as {}) so that bulk writers naming their columns (seeding, imports) need not know it.
    consents = models.JSONField(default=dict, blank=True, null=True)
    password = models.CharField(max_length=128, blank=True, default="", editable=False)
    banned_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "club", name="member_email_unique_per_club_ci"),
            models.UniqueConstraint(fields=["club", "msisdn"], name="member_msisdn_unique_per_club"),
        ]
        indexes = [models.Index(fields=["club", "created_at"], name="member_club_created")]

    def __str__(self) -> str:
        return self.email or self.msisdn or f"Member#{self.pk}"

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    def is_banned(self, *, now=None) -> bool:
        return self.banned_until is not None and (now or dj_timezone.now()) < self.banned_until


class MemberOAuthToken(models.Model):
    """One access/refresh token pair. Refreshing rotates: the used pair is marked `rotated_at`/`revoked_at`
    and a new pair joins the same `family`; presenting a rotated refresh token again revokes the family."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="oauth_tokens")
    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="+")
    family = models.UUIDField(db_index=True)
    access_digest = models.CharField(max_length=64, unique=True)
    refresh_digest = models.CharField(max_length=64, unique=True)
    access_expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=dj_timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "member OAuth token"
        verbose_name_plural = "member OAuth tokens"

    def __str__(self) -> str:
        return f"OAuth token #{self.pk} of member #{self.member_id}"


class MemberGroup(models.Model):
    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="member_groups")
    name = models.CharField(max_length=200)
    description = models.TextField(null=True, blank=True)
    members = models.ManyToManyField(Member, through="MemberGroupMembership", related_name="groups")
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class MemberGroupMembership(models.Model):
    group = models.ForeignKey(MemberGroup, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="group_memberships")
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "member"], name="group_member_unique")]
        indexes = [models.Index(fields=["member", "group"], name="membership_member_group")]

    def __str__(self) -> str:
        return f"member #{self.member_id} in group #{self.group_id}"


class IdempotencyKey(models.Model):
    """The first response to a write sent with an `Idempotency-Key` (SPEC §10.1), per client token, club
    and key. The unique constraint is what stops two concurrent requests with one key both executing."""

    IN_PROGRESS, COMPLETED = "in_progress", "completed"

    client_token = models.ForeignKey(ClientToken, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=100, help_text="Club slug, or empty for global endpoints")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    request_digest = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    state = models.CharField(max_length=20, default=IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client_token", "scope", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
