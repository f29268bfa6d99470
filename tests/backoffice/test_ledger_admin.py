"""The ledger in the admin: cancel selected transactions through transaction_cancel, filter by state and club;
reward purchases are read-only."""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse

from rewards import services
from rewards.models import Membership, Reward, RewardPurchase, Transaction

LEDGER = "/admin/rewards/transaction/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_cancelling_selected_transactions_asks_first_then_cancels_each_through_the_service(staff, member):
    services.membership_join(member=member)
    kept = services.points_grant(member=member, points=50)
    grant = services.points_grant(member=member, points=30)
    reward = Reward.objects.create(club=member.club, name="Mug", price=20, status=Reward.PUBLISHED)
    purchase = services.reward_purchase(member=member, reward=reward)
    selected = [grant.pk, purchase.transaction_id]

    confirm = staff.post(LEDGER, {"action": "cancel_transactions", ACTION_CHECKBOX_NAME: selected})
    assert confirm.status_code == 200 and "Yes, cancel them" in confirm.content.decode()
    assert not Transaction.objects.filter(type="cancellation").exists()

    done = staff.post(
        LEDGER, {"action": "cancel_transactions", ACTION_CHECKBOX_NAME: selected, "apply": "1"}, follow=True
    )

    cancelled = set(Transaction.objects.filter(type="cancellation").values_list("cancelled_transaction_id", flat=True))
    assert cancelled == {grant.pk, purchase.transaction_id}
    assert Membership.objects.get(member=member).balance == 50
    assert RewardPurchase.objects.get().cancelled_at is not None
    assert Reward.objects.get().purchased_count == 0
    assert messages_of(done) == ["Cancelled 2 transaction(s)."]
    assert Transaction.objects.get(pk=kept.pk).cancelled_at is None


def test_transactions_that_cannot_be_cancelled_are_reported_one_by_one(staff, member):
    services.membership_join(member=member)
    grant = services.points_grant(member=member, points=30)
    cancellation = services.transaction_cancel(member=member, transaction_id=grant.pk)

    done = staff.post(
        LEDGER,
        {"action": "cancel_transactions", ACTION_CHECKBOX_NAME: [grant.pk, cancellation.pk], "apply": "1"},
        follow=True,
    )

    assert messages_of(done) == [
        f"Transaction #{grant.pk} was not cancelled: Transaction cannot be cancelled",
        f"Transaction #{cancellation.pk} was not cancelled: Transaction cannot be cancelled",
    ]
    assert Transaction.objects.count() == 2


def test_only_staff_who_may_change_points_can_cancel(client, member):
    services.membership_join(member=member)
    grant = services.points_grant(member=member, points=30)
    viewer = User.objects.create_user("viewer", password="pw-for-tests", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_transaction"))
    client.force_login(viewer)

    listing = client.get(LEDGER)
    attempt = client.post(LEDGER, {"action": "cancel_transactions", ACTION_CHECKBOX_NAME: [grant.pk], "apply": "1"})

    assert "cancel_transactions" not in listing.content.decode()
    assert attempt.status_code in (200, 302)
    assert not Transaction.objects.filter(type="cancellation").exists()


def test_the_ledger_filters_by_state(staff, member):
    services.membership_join(member=member)
    open_ = services.points_grant(member=member, points=10)
    cancelled = services.points_grant(member=member, points=20)
    cancellation = services.transaction_cancel(member=member, transaction_id=cancelled.pk)

    def listed(state):
        response = staff.get(LEDGER, {"state": state})
        return {tx.pk for tx in response.context["cl"].result_list}

    assert listed("open") == {open_.pk}
    assert listed("cancelled") == {cancelled.pk, cancellation.pk}
    assert listed("expired") == set()


def test_reward_purchases_are_listed_but_read_only(staff, member):
    services.membership_join(member=member)
    services.points_grant(member=member, points=30)
    reward = Reward.objects.create(club=member.club, name="Mug", price=20, status=Reward.PUBLISHED)
    purchase = services.reward_purchase(member=member, reward=reward)

    listing = staff.get(reverse("admin:rewards_rewardpurchase_changelist"), {"q": member.email})
    detail = staff.get(reverse("admin:rewards_rewardpurchase_change", args=[purchase.pk]))
    delete = staff.post(reverse("admin:rewards_rewardpurchase_delete", args=[purchase.pk]), {"post": "yes"})

    assert [p.pk for p in listing.context["cl"].result_list] == [purchase.pk]
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert delete.status_code == 403 and RewardPurchase.objects.filter(pk=purchase.pk).exists()
