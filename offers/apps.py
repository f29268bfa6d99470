from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Offers"

    def ready(self):
        from django.db.backends.signals import connection_created

        from loyalty.signals import member_created

        member_created.connect(_on_member_created, dispatch_uid="offers.grant_welcome_offers")
        connection_created.connect(_postgresql_without_jit, dispatch_uid="offers.postgresql_without_jit")


def _on_member_created(sender, member, **kwargs):
    """Queue the welcome grants once the member's transaction has committed (SPEC §8)."""
    from django.db import transaction

    from offers.tasks import grant_welcome_offers

    member_id = member.pk
    transaction.on_commit(lambda: grant_welcome_offers.delay(member_id))


def _postgresql_without_jit(sender, connection, **kwargs):
    """Turn PostgreSQL's JIT off for this connection. The offer list's annotations make the planner's cost
    estimates large enough to trigger JIT compilation, which then costs 100–250 ms per query to save
    microseconds: the classic OLTP pitfall (see docs/decisions.md). One statement per new connection."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")
