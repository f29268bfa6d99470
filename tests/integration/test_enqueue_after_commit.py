"""Side effects are enqueued after the commit (SPEC §8), and a broker that is down then does not turn an
already committed change into an error."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError

from loyalty.models import Member
from loyalty.services.members import member_create


def test_a_member_is_created_even_when_the_welcome_task_cannot_be_queued(
    club, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from offers import tasks

    queued = []

    def broker_down(member_id):
        queued.append(member_id)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.grant_welcome_offers, "delay", broker_down)

    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True) as callbacks:
        member = member_create(club=club, email="new@example.com")
        assert queued == []  # nothing before the commit

    assert len(callbacks) >= 1 and queued == [member.pk]
    assert Member.objects.filter(pk=member.pk).exists()
    assert "Connection refused" in caplog.text
