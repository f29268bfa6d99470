"""Offer factories. `OfferFactory(tags=[...], stores=[...], collections=[...], files=n)` adds related rows."""

from __future__ import annotations

import factory

from offers.models import (
    Collection,
    CollectionOffer,
    Offer,
    OfferFile,
    OfferGrant,
    OfferLike,
    OfferStatus,
    OfferStore,
    OfferTag,
)
from tests.factories import LoyaltyClubFactory


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer
        skip_postgeneration_save = True

    club = factory.SubFactory(LoyaltyClubFactory)
    status = OfferStatus.PUBLISHED
    name = factory.Sequence(lambda n: f"Offer {n:05d}")
    internal_name = factory.LazyAttribute(lambda o: o.name if isinstance(o.name, str) else "offer")

    @factory.post_generation
    def tags(self, create, values, **kwargs):
        if create and values:
            OfferTag.objects.bulk_create([OfferTag(offer=self, value=v) for v in values])

    @factory.post_generation
    def stores(self, create, values, **kwargs):
        if create and values:
            OfferStore.objects.bulk_create([OfferStore(offer=self, value=v) for v in values])

    @factory.post_generation
    def collections(self, create, values, **kwargs):
        if create and values:
            CollectionOffer.objects.bulk_create([CollectionOffer(offer=self, collection=c) for c in values])


class CollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collection

    club = factory.SubFactory(LoyaltyClubFactory)
    title = factory.Sequence(lambda n: f"Collection {n}")


class OfferFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OfferFile

    url = factory.Sequence(lambda n: f"https://cdn.example.com/offer-{n}.jpg")
    width = 600
    height = 800


class OfferGrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OfferGrant


class OfferLikeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OfferLike
