"""SPEC §9 import_members: idempotent on email/msisdn, bad rows reported with line numbers, never stopping."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from loyalty import signals
from loyalty.models import Member
from tests.factories import MemberFactory

GOOD_AND_BAD = """email,msisdn,first_name,last_name,birthday,language,unknown_column
ada@example.com,+47 407 69 126,Ada,Lovelace,1990-12-10,en,x
not-an-email,,Bad,Email,,,
,12ab,Bad,Msisdn,,,
,,No,Identity,,,
grace@example.com,,Grace,Hopper,1906-13-09,en,
GRACE@example.com,,Grace,Again,,,
linus@example.com,0046701234567,Linus,,,sv,
"""


def run_import(path, club_slug="infinity-mall", *extra):
    out = StringIO()
    code = 0
    try:
        call_command("import_members", str(path), "--club", club_slug, "--json", *extra, stdout=out)
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


@pytest.fixture
def csv_file(tmp_path):
    def write(text):
        path = tmp_path / "members.csv"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_bad_rows_are_reported_with_their_line_numbers_and_good_rows_still_import(club, csv_file):
    code, report = run_import(csv_file(GOOD_AND_BAD))
    assert code == 1
    # Line 6 fails on its birthday, so line 7 (same email, other case) is the first valid row and imports.
    assert (report["created"], report["updated"], report["unchanged"], report["failed"]) == (3, 0, 0, 4)
    assert report["errors"] == [
        {"line": 3, "errors": {"email": ["is not a valid email"]}},
        {"line": 4, "errors": {"msisdn": ["is not a valid msisdn"]}},
        {"line": 5, "errors": {"email": ["is missing (a row needs an email or an msisdn)"]}},
        {"line": 6, "errors": {"birthday": ["is in invalid format (YYYY-MM-DD)"]}},
    ]
    assert Member.objects.get(email__iexact="grace@example.com").last_name == "Again"
    ada = Member.objects.get(email="ada@example.com")
    assert (ada.msisdn, ada.first_name, str(ada.birthday), ada.language) == ("4740769126", "Ada", "1990-12-10", "en")
    assert Member.objects.get(msisdn="46701234567").email == "linus@example.com"


def test_a_duplicate_inside_the_file_is_reported_against_the_first_line(club, csv_file):
    code, report = run_import(csv_file("email,first_name\nsam@example.com,Sam\nSAM@example.com,Samuel\n"))
    assert code == 1
    assert report["errors"] == [{"line": 3, "errors": {"email": ["duplicates line 2"]}}]
    assert Member.objects.get().first_name == "Sam"


def test_reimporting_the_same_file_changes_nothing(club, csv_file):
    path = csv_file(GOOD_AND_BAD)
    run_import(path)
    before = list(Member.objects.order_by("id").values())
    code, report = run_import(path)
    assert code == 1  # the bad rows are still bad
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 3)
    assert list(Member.objects.order_by("id").values()) == before


def test_an_existing_member_is_updated_not_duplicated_and_blank_cells_keep_values(club, csv_file):
    MemberFactory(club=club, email="Ada@Example.com", msisdn=None, first_name="Old", last_name="Keep")
    code, report = run_import(csv_file("email,msisdn,first_name,last_name\nada@example.com,4740769126,Ada,\n"))
    assert code == 0
    assert (report["created"], report["updated"]) == (0, 1)
    ada = Member.objects.get()
    assert (ada.email, ada.msisdn, ada.first_name, ada.last_name) == ("Ada@Example.com", "4740769126", "Ada", "Keep")


def test_an_email_and_msisdn_of_two_different_members_is_a_bad_row(club, csv_file):
    MemberFactory(club=club, email="a@example.com", msisdn=None)
    MemberFactory(club=club, email="b@example.com", msisdn="4740000001")
    code, report = run_import(csv_file("email,msisdn\na@example.com,4740000001\n"))
    assert code == 1
    assert report["errors"] == [{"line": 2, "errors": {"msisdn": ["belongs to another member than the email"]}}]


def test_members_of_another_club_are_not_touched(club, other_club, csv_file):
    MemberFactory(club=other_club, email="ada@example.com", first_name="Other")
    run_import(csv_file("email,first_name\nada@example.com,Ada\n"))
    assert Member.objects.get(club=other_club).first_name == "Other"
    assert Member.objects.get(club=club).first_name == "Ada"


def test_notify_sends_the_member_created_signal_for_created_members_only(club, csv_file):
    MemberFactory(club=club, email="old@example.com")
    received = []

    def receiver(sender, member, **kwargs):
        received.append(member.email)

    signals.member_created.connect(receiver)
    try:
        run_import(csv_file("email\nold@example.com\nnew@example.com\n"), "infinity-mall", "--notify")
    finally:
        signals.member_created.disconnect(receiver)
    assert received == ["new@example.com"]


def test_without_notify_no_signal_is_sent(club, csv_file):
    received = []
    signals.member_created.connect(lambda **kw: received.append(1), weak=False, dispatch_uid="t")
    try:
        run_import(csv_file("email\nnew@example.com\n"))
    finally:
        signals.member_created.disconnect(dispatch_uid="t")
    assert received == []


def test_a_file_without_an_identifying_column_is_refused(club, csv_file):
    with pytest.raises(CommandError, match="email"):
        call_command("import_members", str(csv_file("first_name\nAda\n")), "--club", "infinity-mall")


def test_an_unknown_club_is_refused(db, csv_file):
    with pytest.raises(CommandError, match="Unknown club"):
        call_command("import_members", str(csv_file("email\na@example.com\n")), "--club", "nope")


def test_the_human_output_lists_each_bad_line(club, csv_file):
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("import_members", str(csv_file("email\nbad\n")), "--club", "infinity-mall", stdout=out)
    assert "created 0, updated 0, unchanged 0, failed 1" in out.getvalue()
    assert "line 2: email is not a valid email" in out.getvalue()
