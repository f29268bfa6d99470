"""Offers, collections, grants, usages, likes and events.

Counters (`Offer.uses_count`, `Offer.grants_count`, `OfferMemberState.*`, `OfferGrant.uses_count`) only change in
SQL inside the services' transactions; the check constraints below are the last line of defence for the limits.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone as dj_timezone

from loyalty.models import LoyaltyClub, Member, MemberGroup


def _empty_dict():
    return {}


def _empty_list():
    return []


class Scope(models.TextChoices):
    STANDARD = "standard"
    INFORMATIONAL = "informational"
    PARKING = "parking"
    CARBON_OFFSET = "carbon_offset"
    REWARD = "reward"


class OfferType(models.TextChoices):
    REGULAR = "REGULAR"
    EXCLUSIVE = "EXCLUSIVE"
    BIRTHDAY = "BIRTHDAY"
    WELCOME = "WELCOME"


# Types a member can only use while holding an active grant (SPEC §4.6).
GRANT_TYPES = (OfferType.EXCLUSIVE, OfferType.BIRTHDAY, OfferType.WELCOME)


class OfferStatus(models.TextChoices):
    DRAFT = "draft"
    PUBLISHED = "published"


class Timespan(models.TextChoices):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Offer(models.Model):
    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="offers")
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.STANDARD)
    type = models.CharField(max_length=20, choices=OfferType.choices, default=OfferType.REGULAR)
    status = models.CharField(max_length=20, choices=OfferStatus.choices, default=OfferStatus.DRAFT)
    # A string, or a {language: text} map (SPEC §4.9).
    name = models.JSONField(null=True, blank=True)
    description = models.JSONField(null=True, blank=True)
    internal_name = models.CharField(max_length=255, blank=True, default="")
    internal_description = models.TextField(blank=True, default="")
    external_url = models.CharField(max_length=2000, null=True, blank=True)
    read_more = models.JSONField(null=True, blank=True, help_text="{button_title, url, title, text}")
    activation_texts = models.JSONField(null=True, blank=True, help_text="{modal, button, description}")
    usable_since = models.DateTimeField(null=True, blank=True)
    usable_until = models.DateTimeField(null=True, blank=True)
    visible_since = models.DateTimeField(null=True, blank=True)
    visible_until = models.DateTimeField(null=True, blank=True)
    collections = models.ManyToManyField("Collection", through="CollectionOffer", related_name="offers", blank=True)
    # No database constraint on purpose: deleting a member group leaves a dangling id, and an offer whose
    # audience is gone is visible to nobody (fail closed) instead of to everybody (see docs/decisions.md).
    audience = models.ForeignKey(
        MemberGroup,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    campaign_id = models.BigIntegerField(null=True, blank=True)
    extras = models.JSONField(default=_empty_dict, blank=True)
    display_schemas = models.JSONField(null=True, blank=True, help_text="null: the defaults of SPEC §4.8")
    image_template = models.JSONField(null=True, blank=True, help_text="ImageTemplate model of the drawn image")
    maximum_uses_per_user = models.PositiveIntegerField(null=True, blank=True)
    maximum_grants_per_user = models.PositiveIntegerField(null=True, blank=True)
    periodic_timespan = models.CharField(max_length=10, choices=Timespan.choices, null=True, blank=True)
    periodic_limit = models.PositiveIntegerField(null=True, blank=True)
    stock = models.PositiveIntegerField(null=True, blank=True, help_text="Global number of uses; null = unlimited")
    uses_count = models.PositiveIntegerField(default=0, editable=False)
    grants_count = models.PositiveIntegerField(default=0, editable=False)
    usage_authorization_token = models.CharField(max_length=255, null=True, blank=True)
    usage_authorization_token_required = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # The name's sort key (`offers.texts.name_order_key`) for the languages whose signature is
    # `name_sort_language` (the club's default language), written by offers.services.catalog with every
    # write of the name. Lists sorted by name walk an index on it instead of sorting the whole catalogue,
    # and only while every offer of the club carries the key of the request's languages (see
    # offers.selectors.listing `_names_sorted`); any other row, a NULL one included, sends them back to
    # sorting on the computed expression, so a missing or stale key costs time, never a wrong order.
    name_sort = models.TextField(null=True, blank=True, editable=False)
    name_sort_language = models.CharField(max_length=255, null=True, blank=True, editable=False)
    # Which version of the offer's rendered content a row holds: on PostgreSQL, triggers
    # (`offers.sql.CONTENT_REVISION_V1`) give it a new value of one sequence on every insert, every change of a
    # rendered column and every change of the offer's tags, stores, collection links and files, whatever
    # wrote it (service, admin, raw SQL). The member API's rendered-content cache (offers/api/content.py)
    # trusts an entry only for the revision the request's own statement read. Stays 0 on other databases,
    # where that cache is off.
    content_revision = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(uses_count__gte=0), name="offer_uses_count_non_negative"),
            models.CheckConstraint(condition=Q(grants_count__gte=0), name="offer_grants_count_non_negative"),
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(uses_count__lte=F("stock")), name="offer_uses_within_stock"
            ),
            models.CheckConstraint(
                condition=Q(maximum_uses_per_user__isnull=True) | Q(maximum_uses_per_user__gt=0),
                name="offer_max_uses_positive",
            ),
            models.CheckConstraint(
                condition=Q(maximum_grants_per_user__isnull=True) | Q(maximum_grants_per_user__gt=0),
                name="offer_max_grants_positive",
            ),
            models.CheckConstraint(
                condition=(Q(periodic_timespan__isnull=True) & Q(periodic_limit__isnull=True))
                | (Q(periodic_timespan__in=Timespan.values) & Q(periodic_limit__gt=0)),
                name="offer_periodic_limit_complete",
            ),
            models.CheckConstraint(condition=Q(scope__in=Scope.values), name="offer_scope_valid"),
            models.CheckConstraint(condition=Q(type__in=OfferType.values), name="offer_type_valid"),
            models.CheckConstraint(condition=Q(status__in=OfferStatus.values), name="offer_status_valid"),
            models.CheckConstraint(
                condition=Q(usable_since__isnull=True)
                | Q(usable_until__isnull=True)
                | Q(usable_since__lt=F("usable_until")),
                name="offer_usable_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(visible_since__isnull=True)
                | Q(visible_until__isnull=True)
                | Q(visible_since__lt=F("visible_until")),
                name="offer_visible_window_ordered",
            ),
        ]
        indexes = [
            # The member API only ever reads live offers of one club and scope.
            models.Index(
                fields=["club", "scope", "type"],
                condition=Q(status="published", archived_at__isnull=True),
                name="offer_live_club_scope_type",
            ),
            models.Index(fields=["club", "status", "scope"], name="offer_club_status_scope"),
            models.Index(fields=["club", "campaign_id"], name="offer_club_campaign"),
            # Pages by name: the member list (one scope) and the management list (every scope). Not partial:
            # with server-side binding a generic plan cannot prove a partial index's predicate.
            models.Index(
                fields=["club", "scope", "name_sort_language", "name_sort", "id"], name="offer_name_sort_scope"
            ),
            models.Index(
                fields=["club", "name_sort_language", "name_sort", "id", "archived_at"], name="offer_name_sort"
            ),
            # Member pages by date (`order_by` usable_since / usable_until / created_at, SPEC §4.4): the list sorts
            # `ASC NULLS LAST, id` or `DESC NULLS FIRST, id`, which these walk in order and stop after the page.
            # A nullable date has an index per direction: walked backwards, the ascending one gives the ids of
            # equal dates (all the offers without one, say) in descending order, and those would all be sorted.
            models.Index(fields=["club", "scope", "usable_since", "id"], name="offer_page_usable_since"),
            models.Index(fields=["club", "scope", "-usable_since", "id"], name="offer_page_usable_since_desc"),
            models.Index(fields=["club", "scope", "usable_until", "id"], name="offer_page_usable_until"),
            models.Index(fields=["club", "scope", "-usable_until", "id"], name="offer_page_usable_until_desc"),
            models.Index(fields=["club", "scope", "created_at", "id"], name="offer_page_created_at"),
        ]

    def __str__(self) -> str:
        return self.internal_name or f"Offer#{self.pk}"

    @property
    def needs_grant(self) -> bool:
        return self.type in GRANT_TYPES


class ClubOfferCount(models.Model):
    """How many offers a club holds, live and archived apart: the management list's total without a COUNT over
    the catalogue. PostgreSQL triggers keep it, whoever writes the offers (offers.sql CLUB_OFFER_COUNT_V1);
    elsewhere it stays empty and the list counts. No foreign key: deleting a club deletes its offers, whose
    trigger then brings the club's rows to 0, in whatever order the deletions run."""

    club_id = models.BigIntegerField()
    archived = models.BooleanField()
    offers = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["club_id", "archived"], name="offers_club_offer_count_key")]

    def __str__(self) -> str:
        return f"club {self.club_id}: {self.offers} {'archived' if self.archived else 'live'}"


class OfferTag(models.Model):
    """One tag of an offer; a table rather than a JSON list so filters run in SQL on every database."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="tag_rows")
    # The offer's club, written with the row by offers.services.catalog: the meta's distinct tags walk the
    # club's values in an index (offers.sql.values_of_offers). A row without it (written elsewhere) is
    # still found, by a scan of such rows.
    club = models.ForeignKey(
        LoyaltyClub, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    value = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["offer", "value"], name="offer_tag_unique")]
        indexes = [
            models.Index(fields=["value", "offer"], name="offer_tag_value"),
            models.Index(fields=["club", "value", "offer"], name="offer_tag_club_value"),
        ]

    def __str__(self) -> str:
        return self.value


class OfferStore(models.Model):
    """One store name of an offer (same design as OfferTag)."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="store_rows")
    club = models.ForeignKey(
        LoyaltyClub, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    value = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["offer", "value"], name="offer_store_unique")]
        indexes = [
            models.Index(fields=["value", "offer"], name="offer_store_value"),
            models.Index(fields=["club", "value", "offer"], name="offer_store_club_value"),
        ]

    def __str__(self) -> str:
        return self.value


class Collection(models.Model):
    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="offer_collections")
    title = models.JSONField(null=True, blank=True)
    description = models.JSONField(null=True, blank=True)
    short_description = models.JSONField(null=True, blank=True)
    offers_order = models.JSONField(default=_empty_list, blank=True, help_text="Offer ids in display order")
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Collection#{self.pk}"


class CollectionOffer(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="memberships")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="collection_memberships")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "offer"], name="collection_offer_unique")]
        indexes = [models.Index(fields=["offer", "collection"], name="collection_offer_by_offer")]

    def __str__(self) -> str:
        return f"offer #{self.offer_id} in collection #{self.collection_id}"


class FileKind(models.TextChoices):
    OFFER_DEFAULT = "offer_default"
    COLLECTION_COVER_DEFAULT = "collection_cover_default"


class SizeType(models.TextChoices):
    ORIGINAL = "original"
    BASE = "base"
    THUMBNAIL = "thumbnail"


class OfferFile(models.Model):
    """An image of an offer or a collection, in one size. `url` is absolute when the file lives elsewhere;
    otherwise `file` holds it. Sizes made from an uploaded original (`offers.images`) point at it with
    `source`, at most one per size: regenerating them replaces them."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, null=True, blank=True, related_name="files")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, null=True, blank=True, related_name="files")
    kind = models.CharField(max_length=50, choices=FileKind.choices, default=FileKind.OFFER_DEFAULT)
    size_type = models.CharField(max_length=20, choices=SizeType.choices, default=SizeType.ORIGINAL)
    url = models.CharField(max_length=2000, blank=True, default="")
    file = models.FileField(upload_to="offers/", blank=True, default="")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    source = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sizes",
        help_text="The uploaded original this size was made from",
    )
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(offer__isnull=False) & Q(collection__isnull=True))
                | (Q(offer__isnull=True) & Q(collection__isnull=False)),
                name="offer_file_one_owner",
            ),
            models.CheckConstraint(condition=Q(size_type__in=SizeType.values), name="offer_file_size_type_valid"),
            models.UniqueConstraint(
                fields=["source", "size_type"],
                condition=Q(source__isnull=False),
                name="offer_file_one_size_per_source",
            ),
        ]

    def __str__(self) -> str:
        return self.url or self.file.name


class OfferMemberState(models.Model):
    """Per (offer, member): the row a use or a grant locks before checking the member's limits, plus the
    member's counters. Created on first use or grant (race-free upsert, see services)."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="member_states")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="offer_states")
    uses_count = models.PositiveIntegerField(default=0)
    grants_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "member"], name="offer_member_state_unique"),
            models.CheckConstraint(condition=Q(uses_count__gte=0), name="offer_member_state_uses_non_negative"),
            models.CheckConstraint(condition=Q(grants_count__gte=0), name="offer_member_state_grants_non_negative"),
        ]

    def __str__(self) -> str:
        return f"offer #{self.offer_id} / member #{self.member_id}"


class OfferGrant(models.Model):
    class Source(models.TextChoices):
        API = "api"
        WELCOME = "welcome"
        BIRTHDAY = "birthday"
        AUDIENCE = "audience"

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="grants")
    # SET_NULL keeps `Offer.grants_count == number of grant rows` after a member is deleted.
    member = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="offer_grants")
    granted_at = models.DateTimeField(default=dj_timezone.now)
    usable_until = models.DateTimeField(null=True, blank=True, help_text="null: until the offer ends")
    uses_count = models.PositiveIntegerField(default=0, help_text="Uses drawn from this grant")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.API)
    audience_grant = models.ForeignKey(
        "AudienceGrant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="grants",
        help_text="The grant-to-audience call that made this grant",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(uses_count__gte=0), name="offer_grant_uses_non_negative"),
            # A grant-to-audience call grants each member at most once, whatever retries and redeliveries do.
            models.UniqueConstraint(
                fields=["audience_grant", "member"],
                condition=Q(audience_grant__isnull=False),
                name="offer_grant_once_per_audience_call",
            ),
        ]
        indexes = [models.Index(fields=["offer", "member", "usable_until"], name="offer_grant_active")]

    def __str__(self) -> str:
        return f"grant #{self.pk} of offer #{self.offer_id} to member #{self.member_id}"


class AudienceGrant(models.Model):
    """One offer of a `POST offers/grant` call (or the admin's "grant to a group" action): grant the offer to
    every member of a group. Runs in chunks of members by id (`cursor` = the last member id done), each chunk
    one short transaction; its grants point back here, and a unique constraint on (call, member) makes every
    member granted at most once per call, however often a chunk is retried."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"

    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="+")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="audience_grants")
    # Like Offer.audience: no database constraint, a deleted group simply has no members left to grant.
    group = models.ForeignKey(
        MemberGroup, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", verbose_name="audience"
    )
    usable_for_seconds = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    members_count = models.PositiveIntegerField(default=0, help_text="Members in the group when the call was made")
    cursor = models.BigIntegerField(default=0, help_text="Last member id processed")
    granted_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done"]), name="audience_grant_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"grant of offer #{self.offer_id} to group #{self.group_id} (call #{self.pk})"


class OfferUsage(models.Model):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="usages")
    # SET_NULL keeps `Offer.uses_count == number of usage rows` after a member is deleted.
    member = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="offer_usages")
    grant = models.ForeignKey(OfferGrant, on_delete=models.SET_NULL, null=True, blank=True, related_name="usages")
    used_at = models.DateTimeField(default=dj_timezone.now)
    authorized = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["offer", "member", "used_at"], name="offer_usage_member_time")]

    def __str__(self) -> str:
        return f"use #{self.pk} of offer #{self.offer_id}"


class OfferLike(models.Model):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="likes")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="offer_likes")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["offer", "member"], name="offer_like_unique")]

    def __str__(self) -> str:
        return f"member #{self.member_id} likes offer #{self.offer_id}"


class OfferEvent(models.Model):
    class Kind(models.TextChoices):
        CLICKED = "clicked"
        SEEN = "seen"

    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="+")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="events")
    member = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField(help_text="When the client says it happened")
    received_at = models.DateTimeField(default=dj_timezone.now)
    context = models.JSONField(default=_empty_dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["offer", "kind", "created_at"], name="offer_event_offer_kind"),
            models.Index(fields=["club", "kind", "created_at"], name="offer_event_club_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} offer #{self.offer_id}"


class BirthdayGrant(models.Model):
    """A member got a BIRTHDAY offer for the birthday of `year` (the club's local year). Written in the same
    transaction as the grant, before it: the unique constraint makes the birthday job grant each offer once
    per member and year, however often it runs, whatever runs at the same time (see offers/birthday.py)."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="birthday_grants")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    granted_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "member", "year"], name="offer_birthday_grant_once_a_year"),
        ]

    def __str__(self) -> str:
        return f"birthday {self.year} of member #{self.member_id}: offer #{self.offer_id}"


class ImageTemplate(models.Model):
    """A club's stored ImageTemplate record (published Offers Admin API): a model — size, background and
    text rectangles — that clients copy into an offer's `image_template`. At most one per club is the
    default (a partial unique constraint, so two concurrent "make me default" writes cannot both win)."""

    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="image_templates")
    name = models.CharField(max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    background_url = models.CharField(max_length=2000, null=True, blank=True)
    rectangles = models.JSONField(default=list, blank=True)
    default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["club"], condition=Q(default=True), name="offer_image_template_one_default_per_club"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"
