from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Offers"

    def ready(self):
        from loyalty.signals import club_updated, member_created

        member_created.connect(_on_member_created, dispatch_uid="offers.grant_welcome_offers")
        club_updated.connect(_on_club_updated, dispatch_uid="offers.name_keys_for_default_language")

        from django.db.models.signals import post_save

        from offers.services.image_templates import on_offer_saved

        post_save.connect(on_offer_saved, sender="offers.Offer", dispatch_uid="offers.render_offer_image")


def _on_member_created(sender, member, **kwargs):
    """Queue the welcome grants once the member's transaction has committed (SPEC §8)."""
    from django.db import transaction

    from offers.tasks import grant_welcome_offers

    member_id = member.pk
    # robust: the member is committed by then; a broker outage must not turn the create into an error
    # (Django logs the failure, with the member id, and the grant can be run again by hand).
    transaction.on_commit(lambda: grant_welcome_offers.delay(member_id), robust=True)


def _on_club_updated(sender, club, fields, **kwargs):
    """The stored name sort keys are for the club's default language: rewrite them when it changes, in the
    update's transaction (until then the lists would sort every offer the slow way)."""
    if "default_language" in fields:
        from offers.services.catalog import offers_name_keys_refresh

        offers_name_keys_refresh(club=club)
