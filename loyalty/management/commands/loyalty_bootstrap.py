"""Create a loyalty club if missing and issue a FullAccess token bound to it (SPEC §9)."""

import json
import zoneinfo

from django.core.management.base import BaseCommand, CommandError

from loyalty.services.clubs import club_bootstrap


class Command(BaseCommand):
    help = "Create the loyalty club if missing and issue a new FullAccess API token bound to it."

    def add_arguments(self, parser):
        parser.add_argument("--club", required=True, help="Club slug, e.g. infinity-mall")
        parser.add_argument("--name", help="Display name (default: from the slug)")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
        parser.add_argument("--json", action="store_true", help="Print {club, token} as JSON")

    def handle(self, *args, club, name, timezone, json: bool = False, **options):
        if timezone not in zoneinfo.available_timezones():
            raise CommandError(f"Unknown time zone: {timezone}")
        result = club_bootstrap(slug=club, name=name, timezone_name=timezone)
        if json:
            self.stdout.write(_json({"club": result.club.slug, "token": result.issued.secret}))
            return
        verb = "Created" if result.created else "Found"
        self.stdout.write(self.style.SUCCESS(f"{verb} loyalty club '{result.club.slug}' ({result.club.name})."))
        self.stdout.write("New API token (FullAccess, shown once):")
        self.stdout.write(f"  {result.issued.secret}")
        self.stdout.write("Try it:")
        self.stdout.write(
            f"  curl -s http://127.0.0.1:8000/v3/{result.club.slug} -H 'X-Client-Authorization: "
            f"{result.issued.secret}' -H 'X-User-Agent: curl' -H 'X-Product-Name: default'"
        )


def _json(data) -> str:
    return json.dumps(data)
