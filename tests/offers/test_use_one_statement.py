"""The use in fewer round trips (issue 21, target 3; PostgreSQL): the facts read in one statement, the
decision in Python (`offers.rules.use_decide`), the writes in one call of `offers_use_apply_v1`.

* On generated offers and members, the API's use (`offer_use_by_id`) answers what the locking path
  (`offer_use`) answers — the same refusal, or the same figures and the same rows written.
* The function's own decisions: it writes nothing unless the state row and the drawn grant are what the
  decision saw, and it refuses the stock exactly when `offers.rules.stock_left` does.
* A use through the API sends three statements (member, facts, function), none of them a BEGIN, COMMIT or
  SAVEPOINT.

The race tests of tests/offers/test_concurrency.py go through the API, so through this path too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kit.errors import DomainError
from loyalty.models import Member
from offers import rules, sql
from offers.models import Offer, OfferGrant, OfferMemberState, OfferUsage, Scope
from offers.services import use
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.offers.conftest import BASE
from tests.offers.factories import OfferFactory
from tests.offers.test_rules_sql import HOUR, NOW, Case, case_write, cases

pytestmark = pytest.mark.postgres


class _Rollback(Exception):
    pass


@dataclass(frozen=True)
class Extra:
    banned_until: object
    activation: int
    token_required: bool
    offer_token: str | None
    sent_token: str | None
    scope: str | None


extras = st.builds(
    Extra,
    banned_until=st.sampled_from([None, None, NOW - HOUR, NOW + HOUR]),
    activation=st.sampled_from([0, 30, 7200]),
    token_required=st.booleans(),
    offer_token=st.sampled_from([None, "offer-secret"]),
    sent_token=st.sampled_from([None, "offer-secret", "club-secret", "wrong"]),
    scope=st.sampled_from([None, None, None, *Scope.values]),  # None: the offer's own (found, mostly)
)


@st.composite
def use_cases(draw) -> Case:
    """The cases of tests/offers/test_rules_sql.py, half of them opened (no window, not informational, the
    member in the audience, not banned: see `extras`) so that many reach the later checks and the writes."""
    case = draw(cases())
    if draw(st.booleans()):
        scope = Scope.STANDARD if case.scope == Scope.INFORMATIONAL else case.scope
        case = replace(case, usable_since=None, usable_until=None, scope=scope, in_audience=case.audience)
    return case


def _setup(case: Case, extra: Extra, tz_name: str) -> tuple[Offer, int]:
    club = LoyaltyClubFactory(
        timezone=tz_name,
        activated_seconds_time=extra.activation,
        usage_authorization_tokens=["club-secret"],
        rewards_enabled=False,  # authorized uses stay on the one-statement path (the hook would do nothing)
    )
    member = MemberFactory(club=club, banned_until=extra.banned_until)
    offer = case_write(
        case,
        club=club,
        member=member,
        usage_authorization_token=extra.offer_token,
        usage_authorization_token_required=extra.token_required,
    )
    return offer, member.pk


def _outcome(run, offer: Offer, member_id: int):
    """What a use answers and leaves behind: the refusal, or the figures and the rows after it."""
    member = Member.objects.get(pk=member_id)
    try:
        result = run(member)
    except DomainError as exc:
        message = str(exc).replace(f"#{offer.pk} ", "#<id> ")  # a 404 names the offer: its id differs per run
        return ("refused", type(exc).__name__, message, getattr(exc, "status_code", None))
    usage = OfferUsage.objects.get(pk=result.usage.pk)
    state = OfferMemberState.objects.get(offer=offer, member_id=member_id)
    return (
        "used",
        result.figures,
        (usage.offer_id, usage.member_id, usage.grant_id, usage.used_at, usage.authorized),
        (result.usage.grant.pk if result.usage.grant else None, result.usage.used_at, result.usage.authorized),
        (state.uses_count, state.last_used_at),
        Offer.objects.filter(pk=offer.pk).values_list("uses_count", "stock").get(),
        sorted(OfferGrant.objects.filter(offer=offer).values_list("id", "uses_count")),
        OfferUsage.objects.filter(offer=offer).count(),
    )


def _in_rollback(work):
    try:
        with transaction.atomic():
            raise _Rollback(work())
    except _Rollback as done:
        return done.args[0]


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=use_cases(), extra=extras, tz_name=st.sampled_from(["UTC", "Europe/Oslo", "Pacific/Auckland"]))
def test_the_api_use_answers_what_the_locking_use_answers(case: Case, extra: Extra, tz_name: str):
    scope = extra.scope
    with time_machine.travel(NOW, tick=False):

        def locking():
            offer, member_id = _setup(case, extra, tz_name)

            def run(member):
                found = use.visibility.offer_get_visible(club=offer.club, scope=scope or offer.scope, offer_id=offer.pk)
                return use.offer_use(offer=found, member=member, authorization_token=extra.sent_token)

            try:
                return _outcome(run, offer, member_id)
            except DomainError as exc:  # 404 of check 1
                return ("not found", type(exc).__name__, str(exc))

        def one_statement():
            offer, member_id = _setup(case, extra, tz_name)

            def run(member):
                target = use.offer_use_target(
                    club=offer.club, scope=scope or offer.scope, offer_id=offer.pk, member=member
                )
                assert target.facts is not None
                return use.offer_use_by_id(target=target, member=member, authorization_token=extra.sent_token)

            try:
                return _outcome(run, offer, member_id)
            except DomainError as exc:
                return ("not found", type(exc).__name__, str(exc))

        expected, got = _in_rollback(locking), _in_rollback(one_statement)
    event(f"{got[0]} {got[1] if got[0] == 'refused' else ''}")  # --hypothesis-show-statistics: the mix
    # The ids of the rows differ between the two runs (each made its own): compare what they say.
    assert _without_ids(got) == _without_ids(expected)


def _without_ids(outcome):
    if outcome[0] != "used":
        return outcome
    kind, figures, usage, returned, state, counters, grants, count = outcome
    return (
        kind,
        figures,
        (usage[3], usage[4], usage[2] is None),
        (returned[0] is None, returned[1], returned[2]),
        state,
        counters,
        [uses for _, uses in grants],
        count,
    )


# --- The function's own decisions ----------------------------------------------------------------


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    counters=(st.none() | st.integers(1, 4)).flatmap(
        lambda stock: st.tuples(st.just(stock), st.integers(0, 6 if stock is None else stock))
    ),
    state=st.none() | st.tuples(st.integers(0, 3), st.sampled_from([None, NOW - HOUR])),
    seen=st.tuples(st.integers(0, 3), st.sampled_from([None, NOW - HOUR])),
    grant=st.none() | st.tuples(st.integers(0, 3), st.integers(0, 3)),  # (uses drawn, uses the decision saw)
)
def test_the_function_writes_only_on_unchanged_facts_and_takes_the_stock_as_the_rule_says(counters, state, seen, grant):
    stock, uses = counters

    def work():
        club = LoyaltyClubFactory()
        member = MemberFactory(club=club)
        offer = OfferFactory(club=club, stock=stock, uses_count=uses)
        if state is not None:
            OfferMemberState.objects.create(offer=offer, member=member, uses_count=state[0], last_used_at=state[1])
        held = None
        if grant is not None:
            held = OfferGrant.objects.create(offer=offer, member=member, uses_count=grant[0])
        applied = sql.use_apply(
            offer_id=offer.pk,
            member_id=member.pk,
            seen_uses=seen[0],
            seen_last_used_at=seen[1],
            grant_id=held.pk if held else None,
            seen_grant_uses=grant[1] if grant else None,
            now=NOW,
            authorized=False,
        )
        after = (
            Offer.objects.filter(pk=offer.pk).values_list("uses_count", flat=True).get(),
            OfferMemberState.objects.filter(offer=offer, member=member).values_list("uses_count", flat=True).get(),
            OfferUsage.objects.filter(offer=offer).count(),
            OfferGrant.objects.filter(pk=held.pk).values_list("uses_count", flat=True).get() if held else None,
        )
        return applied, after

    applied, (offer_uses, state_uses, usages, grant_uses) = _in_rollback(work)
    actual = state or (0, None)
    unchanged = actual == seen and (grant is None or grant[0] == grant[1])
    if not unchanged:
        expected = sql.USE_CHANGED
    elif not rules.stock_left(stock=stock, uses_count=uses):
        expected = sql.USE_NO_STOCK
    else:
        expected = sql.USE_APPLIED
    assert applied.outcome == expected
    written = expected == sql.USE_APPLIED
    assert (offer_uses, state_uses, usages) == (uses + written, actual[0] + written, int(written))
    if grant is not None:
        assert grant_uses == grant[0] + written
    if written:
        assert (applied.uses_count, applied.stock) == (uses + 1, stock)


# --- Round trips ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_api_use_is_the_member_lookup_and_two_statements_without_transaction_control(api, club, member):
    club.activated_seconds_time = 0
    club.save(update_fields=["activated_seconds_time"])
    offer = OfferFactory(club=club, maximum_uses_per_user=5, stock=10)
    url = f"{BASE}/{member.id}/offers/{offer.id}/use"
    assert api.post(url, {}, format="json").status_code == 200  # what a worker caches (token, club) is cached
    with CaptureQueriesContext(connection) as queries:
        assert api.post(url, {}, format="json").status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    # The request's plumbing (client token, club: cached by a worker, not under the test settings) comes
    # first; the use is the member lookup and two statements.
    first = next(i for i, s in enumerate(statements) if s.startswith('SELECT "loyalty_member"'))
    assert len(statements[first:]) == 3, statements
    assert statements[first + 1].startswith('SELECT "offers_offer"."id"')
    assert statements[first + 2].startswith("SELECT * FROM offers_use_apply_v1(")
    assert not any(s.split()[0].upper() in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE") for s in statements)
    assert OfferUsage.objects.filter(offer=offer).count() == 2
    assert OfferMemberState.objects.get(offer=offer, member=member).uses_count == 2


@pytest.mark.django_db
def test_a_use_of_a_state_changed_since_the_read_is_done_again_under_the_locks(club, member):
    """Between the read and the write, another use of the same member commits: the function writes nothing
    and the use is decided again on fresh facts (here: the member's last allowed use is gone)."""
    club.activated_seconds_time = 0
    club.save(update_fields=["activated_seconds_time"])
    offer = OfferFactory(club=club, maximum_uses_per_user=1)
    target = use.offer_use_target(club=club, scope=Scope.STANDARD, offer_id=offer.pk, member=member)
    use.offer_use(offer=Offer.objects.get(pk=offer.pk), member=member)  # the concurrent use, committed
    with pytest.raises(DomainError) as refused:
        use.offer_use_by_id(target=target, member=member)
    assert str(refused.value) == "User limit exceeded"
    assert OfferUsage.objects.filter(offer=offer).count() == 1
