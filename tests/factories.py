"""factory_boy factories shared by the whole suite."""

import factory

from loyalty.models import LoyaltyClub, Member, MemberGroup


class LoyaltyClubFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoyaltyClub
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"club-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    timezone = "UTC"
    default_language = "en"


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    club = factory.SubFactory(LoyaltyClubFactory)
    email = factory.Sequence(lambda n: f"member{n}@example.com")
    msisdn = None
    first_name = "Ada"
    last_name = "Lovelace"
    language = None


class MemberGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MemberGroup

    club = factory.SubFactory(LoyaltyClubFactory)
    name = factory.Sequence(lambda n: f"Group {n}")
