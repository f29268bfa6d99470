"""Django admin: configuration, rules and rewards through the services; the ledger read-only; corrections."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.urls import reverse

from kit.errors import InvalidParameters
from rewards import services
from rewards.models import Achievement, Membership, ProgramConfig, Reward, Transaction
from tests.rewards.conftest import ledger


@pytest.fixture
def staff(client, db):
    user = User.objects.create_superuser("root", "root@example.com", "pw-for-tests")
    client.force_login(user)
    return client


def test_the_ledger_is_visible_but_cannot_be_added_changed_or_deleted(staff, member, joined):
    grant = services.points_grant(member=member, points=10)
    listing = staff.get(reverse("admin:rewards_transaction_changelist"), {"membership__id__exact": joined.pk})
    assert listing.status_code == 200
    assert f">{grant.pk}<" in listing.content.decode()
    assert staff.get(reverse("admin:rewards_transaction_add")).status_code == 403
    detail = staff.get(reverse("admin:rewards_transaction_change", args=[grant.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    staff.post(reverse("admin:rewards_transaction_change", args=[grant.pk]), {"amount": 999})
    assert staff.post(reverse("admin:rewards_transaction_delete", args=[grant.pk]), {"post": "yes"}).status_code == 403
    grant.refresh_from_db()
    assert (grant.amount, Transaction.objects.count()) == (10, 1)


def test_the_membership_page_links_to_the_members_ledger(staff, member, joined):
    page = staff.get(reverse("admin:rewards_membership_change", args=[joined.pk]))
    assert page.status_code == 200
    assert f"membership__id__exact={joined.pk}" in page.content.decode()


def test_the_correction_action_asks_for_points_and_a_comment_then_writes_through_the_service(staff, member, joined):
    services.points_grant(member=member, points=10)
    url = reverse("admin:rewards_membership_changelist")
    form = staff.post(url, {"action": "correct_points", ACTION_CHECKBOX_NAME: [joined.pk]})
    assert form.status_code == 200 and b'name="comment"' in form.content

    done = staff.post(
        url,
        {
            "action": "correct_points",
            ACTION_CHECKBOX_NAME: [joined.pk],
            "apply": "1",
            "points": "-4",
            "comment": "Refund",
        },
    )

    assert done.status_code == 302
    assert ledger(member) == [("grant", 10), ("correction", -4)]
    assert Transaction.objects.get(type="correction").details == {"comment": "Refund"}
    assert Membership.objects.get(pk=joined.pk).balance == 6


def test_a_correction_beyond_the_balance_is_reported_and_writes_nothing(staff, member, joined):
    url = reverse("admin:rewards_membership_changelist")
    response = staff.post(
        url,
        {"action": "correct_points", ACTION_CHECKBOX_NAME: [joined.pk], "apply": "1", "points": "-5", "comment": ""},
        follow=True,
    )
    assert "Not enough points" in response.content.decode()
    assert ledger(member) == []


def test_memberships_cannot_be_added_or_deleted_in_the_admin(staff, joined):
    assert staff.get(reverse("admin:rewards_membership_add")).status_code == 403
    assert staff.post(reverse("admin:rewards_membership_delete", args=[joined.pk]), {"post": "yes"}).status_code == 403
    assert Membership.objects.filter(pk=joined.pk).exists()


def test_the_program_configuration_is_edited_with_a_validated_levels_program(staff, club):
    config = services.program_config_get(club=club)
    url = reverse("admin:rewards_programconfig_change", args=[config.pk])
    bad = staff.post(
        url,
        {
            "points_validity_days": "90",
            "reward_activation_time": "45",
            "levels_program": '{"type": "regular", "levels": [{"name": "A", "points_threshold": 5}]}',
        },
    )
    assert bad.status_code == 200 and b"Invalid levels program" in bad.content
    good = staff.post(
        url,
        {
            "points_validity_days": "90",
            "reward_activation_time": "45",
            "levels_program": '{"type": "virtual_level", "maximum_points": 100}',
        },
    )
    assert good.status_code == 302
    config = ProgramConfig.objects.get(club=club)
    assert (config.points_validity_days, config.reward_activation_time, config.levels_program) == (
        90,
        45,
        {"type": "virtual_level", "maximum_points": 100},
    )


def test_achievement_rules_are_managed_in_the_admin(staff, club):
    response = staff.post(
        reverse("admin:rewards_achievement_add"),
        {
            "club": club.pk,
            "type": "app_opened",
            "name": "Open the app",
            "points": "5",
            "limit": "",
            "frequency_limit": "",
        },
    )
    assert response.status_code == 302
    duplicate = staff.post(
        reverse("admin:rewards_achievement_add"),
        {"club": club.pk, "type": "app_opened", "name": "Again", "points": "5"},
    )
    assert duplicate.status_code == 200
    assert list(Achievement.objects.values_list("type", "points")) == [("app_opened", 5)]


def test_rewards_with_stock_are_managed_in_the_admin_and_a_bought_one_is_archived_not_deleted(
    staff, club, member, joined
):
    response = staff.post(
        reverse("admin:rewards_reward_add"),
        {"club": club.pk, "name": "Mug", "price": "10", "status": "published", "stock": "3", "files": "[]"},
    )
    assert response.status_code == 302
    reward = Reward.objects.get()
    assert (reward.name, reward.stock, reward.remaining_stock) == ("Mug", 3, 3)
    services.points_grant(member=member, points=10)
    services.reward_purchase(member=member, reward=reward)
    refused = staff.post(reverse("admin:rewards_reward_delete", args=[reward.pk]), {"post": "yes"})
    assert refused.status_code == 403
    staff.post(reverse("admin:rewards_reward_changelist"), {"action": "archive", ACTION_CHECKBOX_NAME: [reward.pk]})
    reward.refresh_from_db()
    assert reward.archived_at is not None and reward.remaining_stock == 2


def test_the_admin_refuses_a_reward_whose_required_level_the_program_does_not_have(staff, club):
    services.program_config_update(
        club=club,
        levels_program={
            "type": "regular",
            "levels": [{"name": "Silver", "points_threshold": 0}, {"name": "Gold", "points_threshold": 100}],
        },
    )
    fields = {"club": club.pk, "name": "Lounge", "price": "10", "status": "published", "stock": "3", "files": "[]"}

    refused = staff.post(reverse("admin:rewards_reward_add"), {**fields, "required_member_level": "Platinum"})

    assert refused.status_code == 200
    assert b"must be one of: Silver, Gold" in refused.content
    assert not Reward.objects.exists()

    accepted = staff.post(reverse("admin:rewards_reward_add"), {**fields, "required_member_level": "Gold"})

    assert accepted.status_code == 302
    reward = Reward.objects.get()
    assert reward.required_member_level == "Gold"

    renamed = staff.post(
        reverse("admin:rewards_reward_change", args=[reward.pk]), {**fields, "required_member_level": "Bronze"}
    )

    assert renamed.status_code == 200
    assert b"must be one of: Silver, Gold" in renamed.content
    reward.refresh_from_db()
    assert reward.required_member_level == "Gold"


def test_the_reward_services_refuse_a_required_level_the_program_does_not_have(club):
    with pytest.raises(InvalidParameters) as refused:
        services.reward_create(club=club, name="Lounge", price=10, required_member_level="Gold")

    assert refused.value.details == {
        "reward": {
            "required_member_level": [
                {"value": "Gold", "error": "inclusion", "options": {"in": []}, "message": "must be one of: "}
            ]
        }
    }
    assert not Reward.objects.exists()
