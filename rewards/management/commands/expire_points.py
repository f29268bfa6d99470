"""Expire every due lot of points (SPEC §6.6, §9), in bounded batches."""

import json
import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from loyalty.management.arguments import club_from_slug
from rewards.management.commands._common import parse_as_of
from rewards.selectors import points_due_totals
from rewards.services import DEFAULT_BATCH_SIZE, points_expire_due


class Command(BaseCommand):
    help = "Expire the points of every lot whose expiry has passed (one expiration transaction per lot)."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="Run as if now were this ISO 8601 time (default: now)")
        parser.add_argument("--club", help="Only this club (slug)")
        parser.add_argument("--dry-run", action="store_true", help="Count what would expire; write nothing")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Lots per transaction")
        parser.add_argument("--json", action="store_true", help='Print {"expired_lots": n, "expired_points": p}')

    def handle(self, *args, as_of=None, club=None, dry_run=False, batch_size=DEFAULT_BATCH_SIZE, **options):
        club = club_from_slug(club)
        as_of = parse_as_of(as_of, club)
        as_json = options["json"]
        if dry_run:
            result = points_due_totals(as_of=as_of, club=club)
        else:
            bar = None
            if not as_json and sys.stdout.isatty():
                bar = tqdm(total=points_due_totals(as_of=as_of, club=club).lots, unit="lot", desc="Expiring")
            result = points_expire_due(
                as_of=as_of,
                batch_size=batch_size,
                club=club,
                on_batch=(lambda scanned, _batch: bar.update(scanned)) if bar is not None else None,
            )
            if bar is not None:
                bar.close()
        if as_json:
            self.stdout.write(json.dumps({"expired_lots": result.lots, "expired_points": result.points}))
            return
        verb = "Would expire" if dry_run else "Expired"
        self.stdout.write(self.style.SUCCESS(f"{verb} {result.points} points in {result.lots} lots (as of {as_of})."))
