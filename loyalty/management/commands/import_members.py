"""Import members from a CSV file (SPEC §9). Idempotent on email / msisdn; bad rows are reported with their
line numbers and never stop the import."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from loyalty.models import LoyaltyClub
from loyalty.services.imports import ImportFileInvalid, csv_rows, members_import


class Command(BaseCommand):
    help = (
        "Import members from a CSV with a header row naming some of: email, msisdn, first_name, last_name, "
        "birthday (YYYY-MM-DD), language. Existing members (same email or msisdn) are updated, not duplicated."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file (UTF-8), or - for standard input")
        parser.add_argument("--club", required=True, help="Club slug")
        parser.add_argument(
            "--notify",
            action="store_true",
            help="Treat created members like API sign-ups: grant WELCOME offers and emit member.created",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON")

    def handle(self, *args, file, club, notify, json=False, **options):
        club_obj = LoyaltyClub.objects.filter(slug=club).first()
        if club_obj is None:
            raise CommandError(f"Unknown club: {club}")
        stream = sys.stdin if file == "-" else _open(file)
        total = None if file == "-" else max(sum(1 for _ in _open(file)) - 1, 0)
        bar = tqdm(total=total, unit="rows", disable=json or not sys.stderr.isatty(), file=sys.stderr)
        try:
            report = members_import(club=club_obj, rows=csv_rows(stream), notify=notify, on_progress=bar.update)
        except ImportFileInvalid as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        if json:
            self.stdout.write(_dumps(report.as_dict()))
        else:
            self.stdout.write(
                f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
                f"failed {report.failed}"
            )
            for error in report.errors:
                problems = "; ".join(f"{f} {', '.join(m)}" for f, m in error["errors"].items())
                self.stdout.write(self.style.WARNING(f"line {error['line']}: {problems}"))
        if report.failed:
            sys.exit(1)


def _open(path: str):
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from exc


def _dumps(data) -> str:
    return json.dumps(data)
