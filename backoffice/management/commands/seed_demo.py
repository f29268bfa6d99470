"""Fill the demo club `infinity-mall` with realistic data (SPEC §9); see backoffice/seed for what and how."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from backoffice.seed import DEMO_PASSWORD, DEMO_SLUG, MAX_MEMBERS, demo_seed


class Command(BaseCommand):
    help = (
        "Fill the demo loyalty club with stores, collections, offers of every type and scope, rewards, "
        "achievements, member groups and members with histories (offer uses, grants, likes, a points ledger). "
        "Re-running adds only what is missing: the same arguments twice write nothing the second time."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=1000, help="Demo members the club should have (1000)")
        parser.add_argument("--offers", type=int, default=40, help="Demo offers the club should have (40)")
        parser.add_argument(
            "--transactions-per-member",
            type=int,
            default=8,
            help="Average ledger transactions of a participating member, expirations aside (8)",
        )
        parser.add_argument("--club", default=DEMO_SLUG, help=f"Club slug ({DEMO_SLUG}); created if missing")
        parser.add_argument("--seed", type=int, default=1, help="Random seed: same seed, same data (1)")
        parser.add_argument(
            "--reset", action="store_true", help="First delete the club's members, offers, rewards and groups"
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON")

    def handle(self, *args, members, offers, transactions_per_member, club, seed, reset, **options):
        as_json = options["json"]
        if not 0 <= members <= MAX_MEMBERS:
            raise CommandError(f"--members must be between 0 and {MAX_MEMBERS}")
        if offers < 0 or transactions_per_member < 0:
            raise CommandError("--offers and --transactions-per-member cannot be negative")
        bar = tqdm(unit="members", disable=as_json or not sys.stderr.isatty(), file=sys.stderr, desc="seed_demo")
        try:
            report = demo_seed(
                members=members,
                offers=offers,
                transactions_per_member=transactions_per_member,
                seed=seed,
                slug=club,
                reset=reset,
                on_start=lambda total: bar.reset(total=total),
                on_progress=bar.update,
            )
        finally:
            bar.close()
        if as_json:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        made = ", ".join(f"{n} {what}" for what, n in report.catalog_created.items()) or "nothing new"
        self.stdout.write(f"Catalogue of '{report.club}': {made}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.members_created} demo members created ({report.members_existing} existed), "
                f"{sum(report.rows.values())} rows in {report.seconds:.1f} s."
            )
        )
        if report.demo_login:
            self.stdout.write(f"Demo member login (OAuth password grant): {report.demo_login} / {DEMO_PASSWORD}")
