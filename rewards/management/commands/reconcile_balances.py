"""Prove the ledger's invariants for every member (SPEC §9); exit status 1 on any mismatch."""

import json
import sys

from django.core.management.base import BaseCommand

from rewards.management.commands._common import club_from_slug
from rewards.selectors import ledger_reconcile


class Command(BaseCommand):
    help = "Check cached balances against the ledger, and lots against their allocations; exit 1 on a mismatch."

    def add_arguments(self, parser):
        parser.add_argument("--club", help="Only this club (slug)")
        parser.add_argument("--json", action="store_true", help='Print {"members_checked": n, "mismatches": [...]}')

    def handle(self, *args, club=None, **options):
        result = ledger_reconcile(club=club_from_slug(club))
        if options["json"]:
            self.stdout.write(json.dumps({"members_checked": result.members_checked, "mismatches": result.mismatches}))
        else:
            for mismatch in result.mismatches:
                self.stdout.write(self.style.ERROR(json.dumps(mismatch)))
            style = self.style.ERROR if result.mismatches else self.style.SUCCESS
            self.stdout.write(style(f"{result.members_checked} members checked, {len(result.mismatches)} mismatches."))
        if result.mismatches:
            sys.exit(1)
