"""Every raw SQL statement of the offers app, and every difference between the databases it runs on.

Plain SQL where the ORM costs more CPU to build a statement than the database spends running it (the use
and the list run these on every request), or where the ORM has no form for it (an upsert that returns the
row, a conditional UPDATE that answers with the new counters, a data-modifying CTE). A new column of
`OfferMemberState`, `OfferUsage` or `Offer` that these statements must know about is added here only.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from django.db import connection
from django.db.models import IntegerField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from kit.db.arrays import pg_array
from offers.models import CollectionOffer, Offer, OfferFile, OfferMemberState, OfferStore, OfferTag, OfferUsage

# --- The per-(offer, member) state row: the lock of uses and grants --------------------------------------


@dataclass
class State:
    id: int
    uses_count: int
    grants_count: int
    last_used_at: datetime | None


def states_lock(*, offer_id: int, member_ids: list[int]) -> dict[int, State]:
    """Create-or-lock the members' state rows for the offer in one statement, in member id order (so two
    batches never deadlock), and return their current values by member id.

    `INSERT … ON CONFLICT DO UPDATE … RETURNING` either inserts a row (holding it until commit) or waits for
    and locks the existing one, then returns it: no lost race on a first use, and no separate
    SELECT … FOR UPDATE. (SQLite serialises writers with BEGIN IMMEDIATE.)"""
    table = OfferMemberState._meta.db_table
    ordered = sorted(member_ids)
    values = ", ".join(["(%s, %s, 0, 0, NULL)"] * len(ordered))
    params = [value for member_id in ordered for value in (offer_id, member_id)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (offer_id, member_id, uses_count, grants_count, last_used_at) VALUES {values} "
            "ON CONFLICT (offer_id, member_id) DO UPDATE SET offer_id = EXCLUDED.offer_id "
            "RETURNING id, member_id, uses_count, grants_count, last_used_at",
            params,
        )
        rows = cursor.fetchall()
    return {
        member_id: State(id=row_id, uses_count=uses, grants_count=grants, last_used_at=_aware(last_used_at))
        for row_id, member_id, uses, grants, last_used_at in rows
    }


def _aware(value: Any) -> datetime | None:
    # RETURNING bypasses the ORM's converters: SQLite answers text, and naive datetimes (USE_TZ) mean UTC.
    if value is not None and not isinstance(value, datetime):
        value = OfferMemberState._meta.get_field("last_used_at").to_python(value)
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


# --- The offer row: global counters -------------------------------------------------------------------


def offer_take_stock(*, offer_id: int, counter: str = "uses_count", amount: int = 1) -> tuple[int, int | None] | None:
    """Add `amount` to the offer's counter if stock remains: `(uses_count, stock)` after it, or None when the
    stock is gone (`offers.rules.stock_left`, under concurrency). One conditional UPDATE; the row lock it
    takes is held until commit, and PostgreSQL re-checks the condition against the latest row version after
    waiting, so N racing uses take exactly the stock."""
    assert counter in ("uses_count", "grants_count")
    table = Offer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {counter} = {counter} + %s "
            "WHERE id = %s AND (stock IS NULL OR uses_count < stock) RETURNING uses_count, stock",
            [amount, offer_id],
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


# --- A use ----------------------------------------------------------------------------------------------


def usage_insert(
    *, offer_id: int, member_id: int, grant_id: int | None, now: datetime, authorized: bool, state_id: int
) -> int:
    """Insert the usage row and bump the member's state row; the usage's id. One statement on PostgreSQL
    (every use runs them, and the ORM's `create()` and `update(F(...))` cost more CPU to build than the
    database spends on them)."""
    usage_table, state_table = OfferUsage._meta.db_table, OfferMemberState._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    insert = (
        f"INSERT INTO {usage_table} (offer_id, member_id, grant_id, used_at, authorized) VALUES (%s, %s, %s, %s, %s)"
    )
    params = [offer_id, member_id, grant_id, at, authorized]
    bump = f"UPDATE {state_table} SET uses_count = uses_count + 1, last_used_at = %s WHERE id = %s"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one round trip: the update rides in a data-modifying CTE
            cursor.execute(f"WITH bump AS ({bump}) {insert} RETURNING id", [at, state_id, *params])
            return cursor.fetchone()[0]
        cursor.execute(insert, params)
        usage_id = cursor.lastrowid
        cursor.execute(bump, [at, state_id])
        return usage_id


# --- A use in one statement (PostgreSQL) ---------------------------------------------------------------
#
# The use decides in Python (`offers.rules.use_decide`) on facts read in one statement, without a lock
# (`offers.selectors.usage.use_facts`), then applies in one call of this function, which runs as one
# statement, atomic by itself (no BEGIN / COMMIT, no savepoint). It writes only if the member's state row and
# the drawn grant are what the decision saw (else answers USE_CHANGED and the caller redoes the use under the
# locks), and takes the stock last with the same conditional UPDATE as `offer_take_stock`.
# Installed by migration offers 0005; a change is a new version (a new function and migration), never an
# edit of this text, which the migration reads.

USE_APPLIED, USE_CHANGED, USE_NO_STOCK = 0, 1, 2

USE_APPLY_FUNCTION_V1 = """
CREATE OR REPLACE FUNCTION offers_use_apply_v1(
    p_offer_id bigint, p_member_id bigint, p_seen_uses integer, p_seen_last_used_at timestamptz,
    p_grant_id bigint, p_seen_grant_uses integer, p_now timestamptz, p_authorized boolean,
    OUT outcome integer, OUT usage_id bigint, OUT offer_uses integer, OUT offer_stock integer
) LANGUAGE plpgsql AS $$
DECLARE
    state_id bigint;
    state_uses integer;
    state_last timestamptz;
    grant_uses integer;
BEGIN
    -- The state row, created or locked (as offers.sql.states_lock does), must be the one the decision read.
    INSERT INTO offers_offermemberstate (offer_id, member_id, uses_count, grants_count, last_used_at)
    VALUES (p_offer_id, p_member_id, 0, 0, NULL)
    ON CONFLICT (offer_id, member_id) DO UPDATE SET offer_id = EXCLUDED.offer_id
    RETURNING id, uses_count, last_used_at INTO state_id, state_uses, state_last;
    IF state_uses <> p_seen_uses OR state_last IS DISTINCT FROM p_seen_last_used_at THEN
        outcome := 1;
        RETURN;
    END IF;
    -- So must the grant the use draws from.
    IF p_grant_id IS NOT NULL THEN
        SELECT uses_count INTO grant_uses FROM offers_offergrant WHERE id = p_grant_id FOR UPDATE;
        IF NOT FOUND OR grant_uses <> p_seen_grant_uses THEN
            outcome := 1;
            RETURN;
        END IF;
    END IF;
    -- The stock, last (offers.sql.offer_take_stock).
    UPDATE offers_offer SET uses_count = uses_count + 1
    WHERE id = p_offer_id AND (stock IS NULL OR uses_count < stock)
    RETURNING uses_count, stock INTO offer_uses, offer_stock;
    IF NOT FOUND THEN
        outcome := 2;
        RETURN;
    END IF;
    INSERT INTO offers_offerusage (offer_id, member_id, grant_id, used_at, authorized)
    VALUES (p_offer_id, p_member_id, p_grant_id, p_now, p_authorized)
    RETURNING id INTO usage_id;
    UPDATE offers_offermemberstate SET uses_count = uses_count + 1, last_used_at = p_now WHERE id = state_id;
    IF p_grant_id IS NOT NULL THEN
        UPDATE offers_offergrant SET uses_count = uses_count + 1 WHERE id = p_grant_id;
    END IF;
    outcome := 0;
END
$$
"""


@dataclass(frozen=True)
class UseApplied:
    outcome: int  # USE_APPLIED, USE_CHANGED or USE_NO_STOCK
    usage_id: int | None = None
    uses_count: int | None = None  # the offer's, after the use
    stock: int | None = None


def use_apply(
    *,
    offer_id: int,
    member_id: int,
    seen_uses: int,
    seen_last_used_at: datetime | None,
    grant_id: int | None,
    seen_grant_uses: int | None,
    now: datetime,
    authorized: bool,
) -> UseApplied:
    """Apply a use decided on facts read without a lock, in one statement (PostgreSQL): see above."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM offers_use_apply_v1(%s, %s, %s, %s, %s, %s, %s, %s)",
            [offer_id, member_id, seen_uses, seen_last_used_at, grant_id, seen_grant_uses, now, authorized],
        )
        return UseApplied(*cursor.fetchone())


# --- Lists ----------------------------------------------------------------------------------------------


def ids_of_merged_pages(parts: list[tuple[str, list[Any]]], *, descending: bool, limit: int, offset: int) -> list[int]:
    """The ids of one page of the union of `parts`: statements selecting `(id, name_key)`, each ordered by
    `name_key` then `id` as the page is and limited to `offset + limit` rows (so PostgreSQL walks each one's
    index only as far as the page). The page is `ORDER BY name_key` (nulls last, first when descending), `id`.
    Each part goes into its own subquery: SQLite admits ORDER BY and LIMIT in a compound only there."""
    union = " UNION ALL ".join(f"SELECT * FROM ({part}) AS part{n}" for n, (part, _) in enumerate(parts))
    key = "u.name_key DESC NULLS FIRST" if descending else "u.name_key ASC NULLS LAST"
    params = [param for _, part_params in parts for param in part_params]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.id FROM ({union}) AS u ORDER BY {key}, u.id ASC LIMIT %s OFFSET %s", [*params, limit, offset]
        )
        return [row[0] for row in cursor.fetchall()]


def values_of_offers(model, *, club_id: int, offers_with_pk) -> list[str]:
    """The distinct `value`s of `model` (OfferTag or OfferStore) rows of the club whose offer is in
    `offers_with_pk(pk)`, a function of a correlated offer id giving an offer queryset (the visibility
    rules stay in their selectors), in `ORDER BY value` order.

    A skip scan over the `(club, value, offer)` index: each step finds the club's next value above the last
    one that has an offer in the set, probing its rows in offer id order and stopping at the first that
    qualifies: a few index probes per value of the answer instead of every row of the catalogue (a value
    whose offers are all hidden is read through). Rows without a club (not written by the catalog service)
    are read in full and added."""
    table = model._meta.db_table
    exists_sql, exists_params = offers_with_pk(RawSQL("r.offer_id", [])).order_by().values("pk").query.sql_with_params()
    # OFFSET keeps PostgreSQL from turning the EXISTS into a join (which it would hash, reading the club's
    # every offer at each step): it stays a probe of the offer's primary key for each row walked.
    exists_sql += " LIMIT 1 OFFSET 0"
    first = f"SELECT r.value FROM {table} r WHERE r.club_id = %s AND EXISTS ({exists_sql}) ORDER BY r.value LIMIT 1"
    after = (
        f"SELECT r.value FROM {table} r WHERE r.club_id = %s AND r.value > walk.value AND EXISTS ({exists_sql}) "
        "ORDER BY r.value LIMIT 1"
    )
    statement = (
        f"WITH RECURSIVE walk(value) AS (SELECT ({first}) UNION ALL SELECT ({after}) FROM walk "
        "WHERE walk.value IS NOT NULL) SELECT value FROM walk WHERE value IS NOT NULL "
        f"UNION SELECT r.value FROM {table} r WHERE r.club_id IS NULL AND EXISTS ({exists_sql}) ORDER BY 1"
    )
    params = [club_id, *exists_params, club_id, *exists_params, *exists_params]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [row[0] for row in cursor.fetchall()]


def collection_position(collection_id: int) -> RawSQL:
    """The offer's 1-based position in the collection's `offers_order` (null when absent), for ORDER BY."""
    table = Offer._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            "SELECT o.ordinality FROM offers_collection c CROSS JOIN LATERAL "
            "jsonb_array_elements(c.offers_order) WITH ORDINALITY AS o(value, ordinality) "
            f'WHERE c.id = %s AND o.value = to_jsonb("{table}"."id") LIMIT 1'
        )
    else:
        sql = (
            "SELECT CAST(j.key AS INTEGER) FROM offers_collection c, json_each(c.offers_order) j "
            f'WHERE c.id = %s AND j.value = "{table}"."id" LIMIT 1'
        )
    return RawSQL(sql, (collection_id,), output_field=IntegerField())


def ids_subquery(ids_text: str) -> RawSQL:
    """`pk__in=ids_subquery(...)`: a list of ids as ONE parameter, so the query has the same text for every
    length (a `kit.prepared.PreparedLookup` compiles it once). Give it `ids_text(ids)`."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids_text,))
    return RawSQL("SELECT value FROM json_each(%s)", (ids_text,))


def ids_text(ids: list[int]) -> str:
    """The parameter of `ids_subquery`: an array literal on PostgreSQL, a JSON array elsewhere."""
    if connection.vendor == "postgresql":
        return pg_array(ids)
    return json.dumps([int(pk) for pk in ids])


FILE_FIELDS = ("url", "file", "width", "height", "kind", "size_type")


def relations_fetch(ids: list[int]) -> list[tuple[int, int, Any, Any, list[Any]]]:
    """The tags, stores, collection links and files of these offers as `(kind, offer_id, text, number,
    file values)`, kind 0 tags, 1 stores, 2 collections, 3 files, each kind in its order (tags and stores by
    value, collections by id, files by position). One statement on PostgreSQL, three elsewhere.

    Plain SQL: these run for every page and every GET of an offer, and building them with the ORM (a union of
    annotated querysets) cost several times what running them does."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_relations_sql_postgresql(), [pg_array(ids)] * 4)
            rows = cursor.fetchall()
        # Each branch comes sorted; the stable sort on the kind keeps that order even if a plan interleaved them.
        rows.sort(key=itemgetter(0))
        return [(kind, offer_id, text, number, files) for kind, offer_id, text, number, *files in rows]
    tag, store, link, file = _relation_tables()
    in_ids = f"IN ({', '.join(['%s'] * len(ids))})"
    found: list[tuple[int, int, Any, Any, list[Any]]] = []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT offer_id, value, 0 FROM {tag} WHERE offer_id {in_ids} UNION ALL "
            f"SELECT offer_id, value, 1 FROM {store} WHERE offer_id {in_ids} ORDER BY 2",
            ids + ids,
        )
        found += [(kind, offer_id, value, None, []) for offer_id, value, kind in cursor.fetchall()]
        cursor.execute(
            f"SELECT offer_id, collection_id FROM {link} WHERE offer_id {in_ids} ORDER BY collection_id", ids
        )
        found += [(2, offer_id, None, collection_id, []) for offer_id, collection_id in cursor.fetchall()]
        columns = ", ".join(FILE_FIELDS)
        cursor.execute(f"SELECT offer_id, {columns} FROM {file} WHERE offer_id {in_ids} ORDER BY position, id", ids)
        found += [(3, offer_id, None, None, values) for offer_id, *values in cursor.fetchall()]
    return found


def _relation_tables() -> tuple[str, ...]:
    return tuple(
        connection.ops.quote_name(model._meta.db_table) for model in (OfferTag, OfferStore, CollectionOffer, OfferFile)
    )


@functools.cache
def _relations_sql_postgresql() -> str:
    """One statement whatever the number of ids (one prepared statement): each relation's rows padded to
    the same columns — kind, offer, text value, integer value, then the file columns — in UNION ALL."""
    tag, store, link, file = _relation_tables()
    columns = ", ".join(FILE_FIELDS)
    blanks = ", ".join(f"NULL::{OfferFile._meta.get_field(name).db_type(connection)}" for name in FILE_FIELDS)
    in_ids = "= ANY(%s::bigint[])"
    return (
        f"(SELECT 0, offer_id, value, NULL::bigint, {blanks} FROM {tag} WHERE offer_id {in_ids} ORDER BY value) "
        f"UNION ALL (SELECT 1, offer_id, value, NULL, {blanks} FROM {store} WHERE offer_id {in_ids} ORDER BY value) "
        f"UNION ALL (SELECT 2, offer_id, NULL, collection_id, {blanks} FROM {link} WHERE offer_id {in_ids} "
        "ORDER BY collection_id) "
        f"UNION ALL (SELECT 3, offer_id, NULL, NULL, {columns} FROM {file} WHERE offer_id {in_ids} "
        "ORDER BY position, id)"
    )


# --- The revision of an offer's rendered content (PostgreSQL) -------------------------------------------
#
# The member API renders an offer's content (names, texts, dates, tags, stores, collection links, files) once
# per revision and language list, and reuses it while the row it reads carries the same `content_revision`
# (offers/api/content.py). These triggers make that exact whatever writes the rows: every insert of an
# offer, every change of one of its rendered columns (`OFFER_CONTENT_COLUMNS`) and every insert, update or
# delete of its tag, store, collection-link and file rows gives the offer a new value of one sequence, in
# the writer's own transaction. A sequence, not a counter per offer: a revision is never handed out twice,
# so a cache entry cannot be mistaken for a later offer's even if ids were ever reused. The relation
# triggers run once per statement (transition tables), so a bulk insert of tags costs one UPDATE.
#
# Frozen in migration offers 0008 by name: a change (a new rendered column) is a _v2 in a new migration,
# and tests/offers/test_content_cache.py holds `OFFER_CONTENT_COLUMNS` equal to what the installed trigger
# watches.

OFFER_CONTENT_COLUMNS = (
    "name",
    "type",
    "description",
    "external_url",
    "usable_since",
    "usable_until",
    "usage_authorization_token_required",
    "extras",
    "display_schemas",
    "read_more",
    "activation_texts",
)


def content_revisions_kept() -> bool:
    """Whether this database keeps `Offer.content_revision` (the triggers below exist on PostgreSQL only)."""
    return connection.vendor == "postgresql"


CONTENT_REVISION_RELATIONS = ("offers_offertag", "offers_offerstore", "offers_collectionoffer", "offers_offerfile")

CONTENT_REVISION_V1 = """
CREATE SEQUENCE offers_content_revision_seq;

CREATE FUNCTION offers_content_revision_next_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.content_revision := nextval('offers_content_revision_seq');
    RETURN NEW;
END $$;

CREATE TRIGGER offers_offer_content_revision_insert BEFORE INSERT ON offers_offer
    FOR EACH ROW EXECUTE FUNCTION offers_content_revision_next_v1();

CREATE TRIGGER offers_offer_content_revision_update BEFORE UPDATE ON offers_offer FOR EACH ROW
    WHEN ((OLD.name, OLD.type, OLD.description, OLD.external_url, OLD.usable_since, OLD.usable_until,
           OLD.usage_authorization_token_required, OLD.extras, OLD.display_schemas, OLD.read_more,
           OLD.activation_texts)
          IS DISTINCT FROM
          (NEW.name, NEW.type, NEW.description, NEW.external_url, NEW.usable_since, NEW.usable_until,
           NEW.usage_authorization_token_required, NEW.extras, NEW.display_schemas, NEW.read_more,
           NEW.activation_texts))
    EXECUTE FUNCTION offers_content_revision_next_v1();

CREATE FUNCTION offers_content_relation_inserted_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE offers_offer SET content_revision = nextval('offers_content_revision_seq')
        WHERE id IN (SELECT offer_id FROM new_rows);
    RETURN NULL;
END $$;

CREATE FUNCTION offers_content_relation_deleted_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE offers_offer SET content_revision = nextval('offers_content_revision_seq')
        WHERE id IN (SELECT offer_id FROM old_rows);
    RETURN NULL;
END $$;

CREATE FUNCTION offers_content_relation_updated_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE offers_offer SET content_revision = nextval('offers_content_revision_seq')
        WHERE id IN (SELECT offer_id FROM old_rows UNION SELECT offer_id FROM new_rows);
    RETURN NULL;
END $$;
""" + "".join(
    f"""
CREATE TRIGGER {table}_content_inserted AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION offers_content_relation_inserted_v1();
CREATE TRIGGER {table}_content_deleted AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION offers_content_relation_deleted_v1();
CREATE TRIGGER {table}_content_updated AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION offers_content_relation_updated_v1();
"""
    for table in CONTENT_REVISION_RELATIONS
)

CONTENT_REVISION_V1_DROP = "".join(
    f"DROP TRIGGER IF EXISTS {table}_content_{event} ON {table};\n"
    for table in CONTENT_REVISION_RELATIONS
    for event in ("inserted", "deleted", "updated")
) + (
    "DROP TRIGGER IF EXISTS offers_offer_content_revision_insert ON offers_offer;\n"
    "DROP TRIGGER IF EXISTS offers_offer_content_revision_update ON offers_offer;\n"
    "DROP FUNCTION IF EXISTS offers_content_relation_inserted_v1();\n"
    "DROP FUNCTION IF EXISTS offers_content_relation_deleted_v1();\n"
    "DROP FUNCTION IF EXISTS offers_content_relation_updated_v1();\n"
    "DROP FUNCTION IF EXISTS offers_content_revision_next_v1();\n"
    "DROP SEQUENCE IF EXISTS offers_content_revision_seq;\n"
)


# --- The stored name key follows the name, whoever writes it ---------------------------------------------
#
# `Offer.name_sort` is written by the catalog service with every name it writes (offers.selectors.listing
# `name_keyed` explains why a stale key is trusted: it looks current). A name written any other way — a
# queryset `.update(name=…)`, raw SQL, a data migration — would keep the key of the old name, and the lists
# would place the offer by it. This trigger drops the key of a row whose name changes while its key does
# not (the service writes the key right after, in its own transaction); a row without a key is sorted on
# the computed name, so the order is right at once and only the speed waits for the next refresh.
# Frozen in migration offers 0009 by name: change it as a _v2.

NAME_KEY_RESET_V1 = {
    "postgresql": """
CREATE FUNCTION offers_name_key_reset_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.name_sort := NULL;
    NEW.name_sort_language := NULL;
    RETURN NEW;
END $$;

CREATE TRIGGER offers_offer_name_key_reset BEFORE UPDATE ON offers_offer FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name
          AND NEW.name_sort IS NOT DISTINCT FROM OLD.name_sort
          AND NEW.name_sort_language IS NOT DISTINCT FROM OLD.name_sort_language)
    EXECUTE FUNCTION offers_name_key_reset_v1();
""",
    "sqlite": """
CREATE TRIGGER offers_offer_name_key_reset AFTER UPDATE OF name ON offers_offer FOR EACH ROW
    WHEN OLD.name IS NOT NEW.name AND NEW.name_sort IS OLD.name_sort
         AND NEW.name_sort_language IS OLD.name_sort_language
BEGIN
    UPDATE offers_offer SET name_sort = NULL, name_sort_language = NULL WHERE id = NEW.id;
END;
""",
}

NAME_KEY_RESET_V1_DROP = {
    "postgresql": "DROP TRIGGER IF EXISTS offers_offer_name_key_reset ON offers_offer;\n"
    "DROP FUNCTION IF EXISTS offers_name_key_reset_v1();\n",
    "sqlite": "DROP TRIGGER IF EXISTS offers_offer_name_key_reset;\n",
}


# --- The club's offer counts, whoever writes the offers ----------------------------------------------------
#
# `ClubOfferCount` holds each club's number of live and of archived offers, so the management list's total
# costs one index lookup instead of a COUNT over the catalogue (18 ms at 100 000 offers). Inserts and deletes
# add their statement's rows at once (transition tables, one upsert per statement, bulk imports included); an
# update moves a row's count only when its club or its archived state changes (a row trigger whose WHEN
# leaves every other update — a use's counters — without a call; one upsert per moved row). Each upsert
# writes both rows of every club it touches, live before archived and clubs in id order, so that writers of
# one club always lock its two rows in the same order (an archived insert then a live one would otherwise
# deadlock against a concurrent archive). A writer holds its club's rows until it commits, so writers of one
# club's offers queue there: offers are written by staff, not by members. TRUNCATE of the offers empties the
# counts (a TRUNCATE trigger, which also fires when a TRUNCATE … CASCADE reaches the offers). Writes with the
# triggers off (session_replication_role = replica, a restore with --disable-triggers) leave the counts
# behind: `manage.py offers_counts_refresh` recounts. Frozen in migration offers 0010 by name: change it as a
# _v2.

CLUB_OFFER_COUNT_V1 = """
CREATE FUNCTION offers_club_offer_count_rows_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO offers_cluboffercount AS c (club_id, archived, offers)
        SELECT d.club_id, s.archived, COALESCE(sum(d.n) FILTER (WHERE d.archived = s.archived), 0)
        FROM (SELECT club_id, archived_at IS NOT NULL AS archived, count(*) AS n FROM new_rows GROUP BY 1, 2) d
            CROSS JOIN (VALUES (false), (true)) AS s (archived)
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (club_id, archived) DO UPDATE SET offers = c.offers + EXCLUDED.offers;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO offers_cluboffercount AS c (club_id, archived, offers)
        SELECT d.club_id, s.archived, COALESCE(sum(-d.n) FILTER (WHERE d.archived = s.archived), 0)
        FROM (SELECT club_id, archived_at IS NOT NULL AS archived, count(*) AS n FROM old_rows GROUP BY 1, 2) d
            CROSS JOIN (VALUES (false), (true)) AS s (archived)
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (club_id, archived) DO UPDATE SET offers = c.offers + EXCLUDED.offers;
    ELSE  -- TRUNCATE
        DELETE FROM offers_cluboffercount;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER offers_offer_club_count_inserted AFTER INSERT ON offers_offer REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION offers_club_offer_count_rows_v1();
CREATE TRIGGER offers_offer_club_count_deleted AFTER DELETE ON offers_offer REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION offers_club_offer_count_rows_v1();
CREATE TRIGGER offers_offer_club_count_truncated AFTER TRUNCATE ON offers_offer
    FOR EACH STATEMENT EXECUTE FUNCTION offers_club_offer_count_rows_v1();

CREATE FUNCTION offers_club_offer_count_moved_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO offers_cluboffercount AS c (club_id, archived, offers)
    SELECT d.club_id, s.archived, COALESCE(sum(d.delta) FILTER (WHERE d.archived = s.archived), 0)
    FROM (VALUES (OLD.club_id, OLD.archived_at IS NOT NULL, -1), (NEW.club_id, NEW.archived_at IS NOT NULL, 1))
            AS d (club_id, archived, delta)
        CROSS JOIN (VALUES (false), (true)) AS s (archived)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (club_id, archived) DO UPDATE SET offers = c.offers + EXCLUDED.offers;
    RETURN NULL;
END $$;

CREATE TRIGGER offers_offer_club_count_moved AFTER UPDATE OF club_id, archived_at ON offers_offer FOR EACH ROW
    WHEN (OLD.club_id IS DISTINCT FROM NEW.club_id
          OR (OLD.archived_at IS NULL) IS DISTINCT FROM (NEW.archived_at IS NULL))
    EXECUTE FUNCTION offers_club_offer_count_moved_v1();
"""

CLUB_OFFER_COUNT_V1_FILL = """
LOCK TABLE offers_offer IN SHARE MODE;
DELETE FROM offers_cluboffercount;
INSERT INTO offers_cluboffercount (club_id, archived, offers)
SELECT club_id, archived_at IS NOT NULL, count(*) FROM offers_offer GROUP BY 1, 2;
"""

CLUB_OFFER_COUNT_V1_DROP = """
DROP TRIGGER IF EXISTS offers_offer_club_count_truncated ON offers_offer;
DROP TRIGGER IF EXISTS offers_offer_club_count_inserted ON offers_offer;
DROP TRIGGER IF EXISTS offers_offer_club_count_deleted ON offers_offer;
DROP TRIGGER IF EXISTS offers_offer_club_count_moved ON offers_offer;
DROP FUNCTION IF EXISTS offers_club_offer_count_rows_v1();
DROP FUNCTION IF EXISTS offers_club_offer_count_moved_v1();
"""


def club_offer_counts_kept() -> bool:
    """Whether this database keeps `ClubOfferCount` (the triggers above exist on PostgreSQL only)."""
    return connection.vendor == "postgresql"


def club_offer_counts_refresh() -> None:
    """Recount every club's offers (`CLUB_OFFER_COUNT_V1_FILL`), offer writers locked out meanwhile. Must run
    inside a transaction (the lock lasts until its end)."""
    with connection.cursor() as cursor:
        for statement in CLUB_OFFER_COUNT_V1_FILL.split(";"):
            if statement.strip():
                cursor.execute(statement)


def club_offer_count_mismatches(*, club_id: int | None = None) -> list[tuple[int, bool, int, int]]:
    """(club id, archived, offers counted, offers kept) of every club state whose kept count is not its
    number of offers, by club and state (for `offers.invariants`)."""
    where = "" if club_id is None else "WHERE club_id = %(club)s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COALESCE(a.club_id, k.club_id), COALESCE(a.archived, k.archived), COALESCE(a.n, 0),
                COALESCE(k.offers, 0)
            FROM (SELECT club_id, archived_at IS NOT NULL AS archived, count(*) AS n FROM offers_offer {where}
                  GROUP BY 1, 2) a
            FULL JOIN (SELECT club_id, archived, offers FROM offers_cluboffercount {where}) k
                ON k.club_id = a.club_id AND k.archived = a.archived
            WHERE COALESCE(a.n, 0) <> COALESCE(k.offers, 0)
            ORDER BY 1, 2
            """,
            {"club": club_id},
        )
        return [(int(c), bool(a), int(n), int(k)) for c, a, n, k in cursor.fetchall()]


def club_offer_count(*, club_id: int, archived: tuple[bool, ...]) -> int:
    """The club's number of offers in the given archived states, from `ClubOfferCount`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(offers), 0) FROM offers_cluboffercount WHERE club_id = %s AND archived = ANY(%s)",
            [club_id, list(archived)],
        )
        return int(cursor.fetchone()[0])
