"""The demo club's catalogue: stores, collections, offers of every type, scope and status, rewards,
achievements, member groups and the rewards program. Created once and found again on re-runs (offers by the
key in their staff-only `internal_description`, the rest by name or type), so seeding twice adds nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction

from loyalty.models import LoyaltyClub, MemberGroup
from offers.models import (
    Collection,
    CollectionOffer,
    Offer,
    OfferFile,
    OfferStatus,
    OfferStore,
    OfferTag,
    OfferType,
    Scope,
    SizeType,
)
from offers.services.catalog import offers_name_keys_refresh
from rewards import services as rewards_services
from rewards.models import Achievement, Reward

DEMO_MARK = "Demo data (seed_demo): "
IMAGE_BASE = "https://cdn.infinity-mall.example/offers"

LEVELS_PROGRAM = {
    "type": "regular",
    "levels": [
        {"name": "Bronze", "points_threshold": 0},
        {"name": "Silver", "points_threshold": 500},
        {"name": "Gold", "points_threshold": 1500},
        {"name": "Platinum", "points_threshold": 4000},
    ],
}

STORES = [
    "Nordlys Kaffebar",
    "Fjord Fashion",
    "Polar Sport",
    "Bokhuset",
    "Tindra Beauty",
    "Peppino Pizzeria",
    "Lekeland",
    "Elektro Nord",
    "Hjem & Hage",
    "Sølvsmeden",
    "Fiskebrygga Sushi",
    "Kino Infinity",
    "Apotek Nord",
    "Skomakern",
    "Bakeriet",
]

# key → (name in English, name in Norwegian Bokmål), share of members (None: set by hand)
GROUPS = {
    "vip": ("VIP customers", 0.05),
    "newsletter": ("Newsletter subscribers", 0.40),
    "families": ("Families", 0.15),
    "staff": ("Mall staff", 0.003),
}

COLLECTIONS = {
    "food": ({"en": "Food & drinks", "nb": "Mat og drikke"}, "Cafés, restaurants and treats"),
    "fashion": ({"en": "Fashion & beauty", "nb": "Mote og skjønnhet"}, "New arrivals and beauty deals"),
    "family": ({"en": "For families", "nb": "For familien"}, "Play, food and fun for the kids"),
    "parking": ({"en": "Parking & charging", "nb": "Parkering og lading"}, "Park and charge for less"),
    "green": ({"en": "Greener shopping", "nb": "Grønnere handel"}, "Small steps that count"),
    "week": ({"en": "This week's deals", "nb": "Ukens tilbud"}, "Hand-picked for this week"),
}

ACHIEVEMENTS = [
    # type, name, points, limit, frequency (timespan, limit)
    ("app_opened", "Opened the app", 5, None, ("day", 1)),
    ("coupon_used", "Used a coupon in store", 25, None, ("week", 3)),
    ("consent_granted", "Said yes to news", 100, 1, None),
    ("email_opened", "Read the newsletter", 5, None, ("month", 4)),
    ("push_opened", "Opened a notification", 5, None, ("week", 3)),
    ("geofence_approached", "Visited the mall", 10, None, ("day", 1)),
    ("link_clicked", "Clicked a link", 2, None, None),
]

REWARDS = [
    # name, price, level, stock, uses per purchase, usable days, status, archived days ago, popularity
    ("Coffee and a cinnamon bun", 100, None, None, 1, 30, "published", None, 10),
    ("3 hours of free parking", 150, None, None, 1, 90, "published", None, 8),
    ("Tote bag", 300, None, 300, 1, None, "published", None, 3),
    ("Kids' play area, 5 visits", 400, None, None, 5, 180, "published", None, 3),
    ("Cinema ticket", 500, None, None, 1, 180, "published", None, 6),
    ("Gift card 250 kr", 1000, "Silver", None, 1, 365, "published", None, 4),
    ("VIP lounge day pass", 2000, "Gold", 50, 1, 60, "published", None, 1),
    ("Christmas ornament", 250, None, 200, 1, 60, "published", 60, 2),
    ("Summer surprise box", 800, None, 100, 1, 30, "draft", None, 0),
]


@dataclass(frozen=True)
class OfferSpec:
    key: str
    name: tuple[str, str]  # (en, nb)
    description: str
    store: str
    type: str = OfferType.REGULAR
    scope: str = Scope.STANDARD
    status: str = OfferStatus.PUBLISHED
    tags: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    popularity: int = 3
    created_days_ago: int = 420
    archived_days_ago: int | None = None
    usable_since_days: int | None = None  # relative to now: -30 = a month ago, 5 = in five days
    usable_until_days: int | None = None
    max_uses_per_user: int | None = None
    max_grants_per_user: int | None = None
    periodic: tuple[str, int] | None = None
    stock: int | None = None
    auth_required: bool = False
    audience: str | None = None  # a GROUPS key
    grant_days: int | None = None  # usable_for of the grants (EXCLUSIVE / BIRTHDAY / WELCOME)
    read_more: bool = False


OFFERS = [
    OfferSpec(
        "coffee-2for1",
        ("2 for 1 on coffee", "2 for 1 på kaffe"),
        "Bring a friend: the second cup is on us.",
        "Nordlys Kaffebar",
        tags=("coffee", "food"),
        collections=("food", "week"),
        popularity=10,
        periodic=("day", 1),
        read_more=True,
    ),
    OfferSpec(
        "fashion-20",
        ("20% off new arrivals", "20 % på nyheter"),
        "The new season, for less.",
        "Fjord Fashion",
        tags=("fashion",),
        collections=("fashion", "week"),
        popularity=6,
        max_uses_per_user=2,
    ),
    OfferSpec(
        "sport-shoes",
        ("15% off running shoes", "15 % på løpesko"),
        "Ready for the spring races.",
        "Polar Sport",
        tags=("sport",),
        popularity=4,
        stock=5000,
        usable_until_days=60,
    ),
    OfferSpec(
        "books-3for2",
        ("3 for 2 on paperbacks", "3 for 2 på pocketbøker"),
        "Stock up for the holidays.",
        "Bokhuset",
        tags=("books",),
        popularity=3,
    ),
    OfferSpec(
        "beauty-gift",
        ("A gift with every purchase over 500 kr", "Gave ved kjøp over 500 kr"),
        "While stocks last.",
        "Tindra Beauty",
        tags=("beauty",),
        collections=("fashion",),
        popularity=5,
        stock=3000,
        max_uses_per_user=1,
        auth_required=True,
    ),
    OfferSpec(
        "pizza-lunch",
        ("Lunch pizza for 129 kr", "Lunsjpizza til 129 kr"),
        "Weekdays 11–15.",
        "Peppino Pizzeria",
        tags=("food", "lunch"),
        collections=("food",),
        popularity=7,
        periodic=("week", 2),
    ),
    OfferSpec(
        "kids-play",
        ("A free hour in the play area", "En gratis time i lekeland"),
        "For kids up to 10.",
        "Lekeland",
        tags=("kids",),
        collections=("family",),
        popularity=3,
        periodic=("month", 1),
    ),
    OfferSpec(
        "headphones-25",
        ("25% off headphones", "25 % på hodetelefoner"),
        "The autumn campaign.",
        "Elektro Nord",
        tags=("electronics",),
        popularity=4,
        usable_since_days=-150,
        usable_until_days=-20,
    ),
    OfferSpec(
        "christmas-market",
        ("Mulled wine at the Christmas market", "Gløgg på julemarkedet"),
        "A warm cup on us.",
        "Bakeriet",
        tags=("christmas", "food"),
        popularity=3,
        created_days_ago=400,
        archived_days_ago=300,
    ),
    OfferSpec(
        "spring-preview",
        ("Spring collection preview", "Forhåndsvisning av vårkolleksjonen"),
        "Coming soon.",
        "Fjord Fashion",
        status=OfferStatus.DRAFT,
        tags=("fashion",),
        popularity=0,
    ),
    OfferSpec(
        "home-weekend",
        ("Weekend: 30% off home decor", "Helg: 30 % på interiør"),
        "Starts on Friday.",
        "Hjem & Hage",
        tags=("home",),
        collections=("week",),
        popularity=0,
        usable_since_days=5,
        usable_until_days=8,
    ),
    OfferSpec(
        "welcome-coffee",
        ("Welcome! A free coffee on us", "Velkommen! En gratis kaffe"),
        "Our thanks for joining the club.",
        "Nordlys Kaffebar",
        type=OfferType.WELCOME,
        tags=("coffee",),
        popularity=6,
        max_uses_per_user=1,
        grant_days=30,
    ),
    OfferSpec(
        "birthday-cake",
        ("Happy birthday: a slice of cake", "Gratulerer med dagen: et kakestykke"),
        "Pick it up within 30 days of your birthday.",
        "Bakeriet",
        type=OfferType.BIRTHDAY,
        tags=("birthday", "food"),
        popularity=5,
        max_uses_per_user=1,
        grant_days=30,
    ),
    OfferSpec(
        "vip-extra",
        ("VIP: 10% extra in every store", "VIP: 10 % ekstra i alle butikker"),
        "For our most loyal customers.",
        "Infinity Mall",
        type=OfferType.EXCLUSIVE,
        tags=("vip",),
        popularity=4,
        audience="vip",
        max_uses_per_user=5,
        max_grants_per_user=1,
    ),
    OfferSpec(
        "newsletter-50",
        ("Newsletter exclusive: 50 kr off 300 kr", "Kun for nyhetsbrevet: 50 kr avslag"),
        "Sent to our subscribers.",
        "Skomakern",
        type=OfferType.EXCLUSIVE,
        tags=("newsletter",),
        popularity=4,
        max_uses_per_user=1,
        max_grants_per_user=3,
        grant_days=21,
    ),
    OfferSpec(
        "parking-2h",
        ("2 hours of free parking on weekdays", "2 timer gratis parkering på hverdager"),
        "Show the code at the exit.",
        "Infinity Mall",
        scope=Scope.PARKING,
        tags=("parking",),
        collections=("parking",),
        popularity=8,
        periodic=("day", 1),
    ),
    OfferSpec(
        "parking-ev",
        ("An hour of free EV charging", "En time gratis lading"),
        "At level P2.",
        "Infinity Mall",
        scope=Scope.PARKING,
        tags=("parking", "ev"),
        collections=("parking", "green"),
        popularity=3,
        stock=8000,
    ),
    OfferSpec(
        "carbon-tree",
        ("Plant a tree with your receipt", "Plant et tre med kvitteringen"),
        "We plant one for every scan.",
        "Infinity Mall",
        scope=Scope.CARBON_OFFSET,
        tags=("green",),
        collections=("green",),
        popularity=2,
    ),
    OfferSpec(
        "carbon-bag",
        ("Bring your own bag: 5 kr back", "Ta med egen pose: 5 kr tilbake"),
        "Every visit.",
        "Infinity Mall",
        scope=Scope.CARBON_OFFSET,
        tags=("green",),
        collections=("green",),
        popularity=2,
    ),
    OfferSpec(
        "info-hours",
        ("Longer opening hours in December", "Utvidede åpningstider i desember"),
        "Open until 22 on weekdays.",
        "Infinity Mall",
        scope=Scope.INFORMATIONAL,
        tags=("info",),
        popularity=0,
        read_more=True,
    ),
    OfferSpec(
        "info-new-stores",
        ("Five new stores this spring", "Fem nye butikker i vår"),
        "Come and see.",
        "Infinity Mall",
        scope=Scope.INFORMATIONAL,
        tags=("info",),
        popularity=0,
    ),
    OfferSpec(
        "reward-refill",
        ("Member reward: a free coffee refill", "Medlemsfordel: gratis påfyll"),
        "For members of the rewards program.",
        "Nordlys Kaffebar",
        scope=Scope.REWARD,
        tags=("coffee",),
        popularity=3,
        max_uses_per_user=3,
    ),
    OfferSpec(
        "reward-popcorn",
        ("Member reward: popcorn at the cinema", "Medlemsfordel: popcorn på kino"),
        "Show the code at the counter.",
        "Kino Infinity",
        scope=Scope.REWARD,
        tags=("cinema",),
        popularity=2,
        auth_required=True,
    ),
    OfferSpec(
        "family-saturday",
        ("Family Saturday: kids eat free", "Familielørdag: barna spiser gratis"),
        "With an adult main course.",
        "Fiskebrygga Sushi",
        tags=("kids", "food"),
        collections=("family",),
        popularity=3,
        audience="families",
        periodic=("week", 1),
    ),
    OfferSpec(
        "summer-sale",
        ("Summer sale: up to 50% off", "Sommersalg: opptil 50 %"),
        "The big one.",
        "Fjord Fashion",
        tags=("fashion", "sale"),
        popularity=5,
        created_days_ago=200,
        archived_days_ago=100,
        usable_since_days=-190,
        usable_until_days=-110,
    ),
    OfferSpec(
        "black-friday",
        ("Black Friday preview", "Black Friday-forsmak"),
        "Members first.",
        "Elektro Nord",
        status=OfferStatus.DRAFT,
        tags=("electronics", "sale"),
        popularity=0,
        stock=1000,
    ),
]


def extra_offer_spec(number: int) -> OfferSpec:
    """The `number`-th offer beyond the hand-written ones (for `--offers` above their count)."""
    store = STORES[number % len(STORES)]
    percent = (10, 15, 20, 25, 30)[number % 5]
    return OfferSpec(
        f"weekly-{number:04d}",
        (f"{percent}% off at {store}", f"{percent} % hos {store}"),
        "This week only.",
        store,
        tags=("weekly",),
        collections=("week",) if number % 3 == 0 else (),
        popularity=1 + number % 3,
        created_days_ago=30 + (number * 37) % 360,
    )


@dataclass
class Catalog:
    club: LoyaltyClub
    offers: list[Offer] = field(default_factory=list)
    specs: dict[int, OfferSpec] = field(default_factory=dict)  # offer id → spec
    groups: dict[str, MemberGroup] = field(default_factory=dict)
    rewards: list[Reward] = field(default_factory=list)
    reward_popularity: dict[int, int] = field(default_factory=dict)
    achievements: dict[str, Achievement] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)


def _at(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now + timedelta(days=days)


@transaction.atomic
def catalog_ensure(*, club: LoyaltyClub, offers: int, now: datetime) -> Catalog:
    """Create what is missing of the catalogue (the first `offers` offer specs among it) and return it all."""
    catalog = Catalog(club=club)
    created = catalog.created

    config = rewards_services.program_config_get(club=club)
    if config.levels_program is None:
        rewards_services.program_config_update(club=club, points_validity_days=365, levels_program=LEVELS_PROGRAM)

    existing_rules = {rule.type: rule for rule in Achievement.objects.filter(club=club)}
    for type_, name, points, limit, frequency in ACHIEVEMENTS:
        if type_ not in existing_rules:
            existing_rules[type_] = rewards_services.achievement_create(
                club=club,
                type=type_,
                name=name,
                points=points,
                limit=limit,
                frequency={"timespan": frequency[0], "limit": frequency[1]} if frequency else None,
                created_at=now - timedelta(days=540),
            )
            created["achievements"] = created.get("achievements", 0) + 1
    catalog.achievements = existing_rules

    rewards_by_name = {reward.name: reward for reward in Reward.objects.filter(club=club)}
    for name, price, level, stock, uses, days, status, archived_days_ago, popularity in REWARDS:
        reward = rewards_by_name.get(name)
        if reward is None:
            reward = rewards_services.reward_create(
                club=club,
                name=name,
                description=f"{name}. Pick it up at the information desk.",
                price=price,
                required_member_level=level,
                status=status,
                stock=stock,
                uses_per_purchase=uses,
                usable_for_seconds=days * 86400 if days else None,
                archived_at=_at(now, -archived_days_ago) if archived_days_ago else None,
                created_at=now - timedelta(days=420),
            )
            created["rewards"] = created.get("rewards", 0) + 1
        catalog.rewards.append(reward)
        catalog.reward_popularity[reward.pk] = popularity

    groups_by_name = {group.name: group for group in MemberGroup.objects.filter(club=club)}
    for key, (name, _share) in GROUPS.items():
        group = groups_by_name.get(name)
        if group is None:
            group = MemberGroup.objects.create(
                club=club, name=name, description=f"Demo group: {name.lower()}", created_at=now - timedelta(days=540)
            )
            created["member_groups"] = created.get("member_groups", 0) + 1
        catalog.groups[key] = group

    collections = {}
    for collection in Collection.objects.filter(club=club):
        for key, (title, _) in COLLECTIONS.items():
            if collection.title == title:
                collections[key] = collection
    for key, (title, description) in COLLECTIONS.items():
        if key not in collections:
            collections[key] = Collection.objects.create(
                club=club,
                title=title,
                description=description,
                short_description=description,
                created_at=now - timedelta(days=420),
            )
            created["collections"] = created.get("collections", 0) + 1

    specs = [*OFFERS[:offers], *(extra_offer_spec(n) for n in range(max(offers - len(OFFERS), 0)))]
    existing = {
        offer.internal_description.removeprefix(DEMO_MARK): offer
        for offer in Offer.objects.filter(club=club, internal_description__startswith=DEMO_MARK)
    }
    for spec in specs:
        offer = existing.get(spec.key)
        if offer is None:
            offer = _offer_create(club=club, spec=spec, groups=catalog.groups, collections=collections, now=now)
            created["offers"] = created.get("offers", 0) + 1
        catalog.offers.append(offer)
        catalog.specs[offer.pk] = spec
    offers_name_keys_refresh(club=club)  # the sort keys the catalog service writes with each offer
    # Every demo offer found, also those of an earlier run with a larger --offers.
    for key, offer in existing.items():
        if offer.pk not in catalog.specs:
            catalog.offers.append(offer)
            catalog.specs[offer.pk] = _spec_for_key(key)

    for key, collection in collections.items():
        order = list(
            CollectionOffer.objects.filter(collection=collection)
            .order_by("offer_id")
            .values_list("offer_id", flat=True)
        )
        if collection.offers_order != order:
            Collection.objects.filter(pk=collection.pk).update(offers_order=order)
        collections[key] = collection
    return catalog


def _spec_for_key(key: str) -> OfferSpec:
    if key.startswith("weekly-") and key[7:].isdigit():
        return extra_offer_spec(int(key[7:]))
    return next((spec for spec in OFFERS if spec.key == key), extra_offer_spec(0))


def _offer_create(*, club, spec: OfferSpec, groups, collections, now: datetime) -> Offer:
    created_at = now - timedelta(days=spec.created_days_ago)
    offer = Offer.objects.create(
        club=club,
        scope=spec.scope,
        type=spec.type,
        status=spec.status,
        name={"en": spec.name[0], "nb": spec.name[1]},
        description={"en": spec.description},
        internal_name=spec.name[0],
        internal_description=DEMO_MARK + spec.key,
        external_url=f"https://infinity-mall.example/offers/{spec.key}",
        read_more={
            "button_title": "Read more",
            "url": f"https://infinity-mall.example/offers/{spec.key}",
            "title": spec.name[0],
            "text": spec.description,
        }
        if spec.read_more
        else None,
        activation_texts={"modal": "Show this screen at the till", "button": "Use now", "description": None}
        if spec.type == OfferType.REGULAR and spec.scope == Scope.STANDARD
        else None,
        usable_since=_at(now, spec.usable_since_days),
        usable_until=_at(now, spec.usable_until_days),
        audience=groups[spec.audience] if spec.audience else None,
        maximum_uses_per_user=spec.max_uses_per_user,
        maximum_grants_per_user=spec.max_grants_per_user,
        periodic_timespan=spec.periodic[0] if spec.periodic else None,
        periodic_limit=spec.periodic[1] if spec.periodic else None,
        stock=spec.stock,
        usage_authorization_token="INFINITY" if spec.auth_required else None,
        usage_authorization_token_required=spec.auth_required,
        archived_at=_at(now, -spec.archived_days_ago) if spec.archived_days_ago else None,
        extras={"store_floor": 1 + len(spec.store) % 3},
        created_at=created_at,
    )
    OfferTag.objects.bulk_create([OfferTag(offer=offer, club_id=offer.club_id, value=tag) for tag in spec.tags])
    OfferStore.objects.bulk_create([OfferStore(offer=offer, club_id=offer.club_id, value=spec.store)])
    CollectionOffer.objects.bulk_create(
        [CollectionOffer(offer=offer, collection=collections[c]) for c in spec.collections]
    )
    OfferFile.objects.bulk_create(
        [
            OfferFile(offer=offer, size_type=size, url=f"{IMAGE_BASE}/{spec.key}/{size}.jpg", width=w, height=h)
            for size, w, h in (
                (SizeType.ORIGINAL, 1200, 1600),
                (SizeType.BASE, 600, 800),
                (SizeType.THUMBNAIL, 150, 200),
            )
        ]
    )
    return offer
