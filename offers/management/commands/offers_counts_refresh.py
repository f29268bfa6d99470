"""Recount every club's offers into `ClubOfferCount` (PostgreSQL), for after writes the triggers did not see:
`session_replication_role = replica`, a restore with triggers disabled. `reconcile_balances` reports such a
gap (check `club_offer_count`)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from offers import sql


class Command(BaseCommand):
    help = "Recount every club's live and archived offers (the management list's totals); offer writers wait meanwhile."

    def handle(self, *args, **options):
        if not sql.club_offer_counts_kept():
            raise CommandError("Only PostgreSQL keeps the offer counts; other databases count on every list.")
        with transaction.atomic():
            before = sql.club_offer_count_mismatches()
            sql.club_offer_counts_refresh()
        self.stdout.write(self.style.SUCCESS(f"Offer counts refreshed ({len(before)} club states were off)."))
