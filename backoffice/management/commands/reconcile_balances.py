"""Prove the ledger's invariants for every member, and the offers' counters (SPEC §9); exit 1 on a mismatch.

The back office is the composition point of the apps: rewards never imports offers, this command uses both.
"""

import json
import sys

from django.core.management.base import BaseCommand

from loyalty.management.arguments import club_from_slug
from offers.invariants import offers_reconcile
from rewards.selectors import ledger_reconcile


class Command(BaseCommand):
    help = (
        "Check cached balances against the ledger, lots against their allocations, and offer counters against "
        "their usages and grants; exit 1 on a mismatch."
    )

    def add_arguments(self, parser):
        parser.add_argument("--club", help="Only this club (slug)")
        parser.add_argument(
            "--json",
            action="store_true",
            help='Print {"members_checked": n, "offers_checked": n, "mismatches": [...]}',
        )

    def handle(self, *args, club=None, **options):
        club = club_from_slug(club)
        ledger = ledger_reconcile(club=club)
        offers = offers_reconcile(club=club)
        mismatches = ledger.mismatches + offers.mismatches
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "members_checked": ledger.members_checked,
                        "offers_checked": offers.offers_checked,
                        "mismatches": mismatches,
                    }
                )
            )
        else:
            for mismatch in mismatches:
                self.stdout.write(self.style.ERROR(json.dumps(mismatch)))
            style = self.style.ERROR if mismatches else self.style.SUCCESS
            self.stdout.write(
                style(
                    f"{ledger.members_checked} members and {offers.offers_checked} offers checked, "
                    f"{len(mismatches)} mismatches."
                )
            )
        if mismatches:
            sys.exit(1)
