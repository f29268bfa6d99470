"""Idempotency keys (SPEC §10.1).

The first response to a POST/PUT/DELETE sent with `Idempotency-Key` is stored per (client token, club, key)
and replayed to retries. Who runs is decided by the database: the in-progress row is INSERTed in its own
committed statement before the handler runs, and the unique constraint on (client_token, scope, key) makes
every concurrent duplicate fail that INSERT. The base view (`loyalty.api.base`) calls these functions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from kit.errors import BusinessRuleError, Conflict, InvalidParameters
from kit.messages import message_for
from loyalty.models import ClientToken, IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_LENGTH = 255
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
# Claim attempts before giving up with 409: each retry follows a row that vanished between our failed INSERT
# and our SELECT (released after a 5xx, expired, or taken over), which can only happen a few times in a row.
_CLAIM_ROUNDS = 5


class IdempotencyKeyReused(BusinessRuleError):
    code, message = "idempotency_key_reused", "Idempotency key reused with different parameters"


class IdempotencyKeyInProgress(Conflict):
    code, message = "idempotency_key_in_progress", "Request with this idempotency key is in progress"


@dataclass(frozen=True)
class StoredResponse:
    """A completed first response, replayed byte for byte."""

    status: int
    body: bytes


def _ttl() -> timedelta:
    return timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)


def _lease() -> timedelta:
    return timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)


def idempotency_key_validate(value: str) -> str:
    """The key itself, or 422 "Invalid parameters" on the header name: 1–255 printable ASCII characters."""
    key = value.strip()
    if not key:
        error, options = "blank", {}
    elif len(key) > MAX_LENGTH:
        error, options = "too_long", {"max_length": MAX_LENGTH}
    elif not _PRINTABLE_ASCII.fullmatch(key):
        error, options = "invalid", {"format": "printable ASCII"}
    else:
        return key
    leaf = {"value": value, "error": error, "options": options, "message": message_for(error, options)}
    raise InvalidParameters({HEADER: [leaf]})


def request_digest(*, method: str, path: str, body: bytes) -> str:
    """SHA-256 over method, full path (with the query string) and the raw body."""
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode("utf-8", "surrogatepass"), body):
        h.update(len(part).to_bytes(8, "big"))  # length-prefixed, so parts cannot bleed into each other
        h.update(part)
    return h.hexdigest()


def idempotency_key_claim(
    *,
    client_token: ClientToken,
    scope: str,
    key: str,
    method: str,
    path: str,
    body: bytes,
    now: datetime | None = None,
) -> IdempotencyKey | StoredResponse:
    """Claim the key for this request, or tell what the earlier request with this key decided.

    Returns the new in-progress row when this request must run (the caller then calls
    `idempotency_key_complete` or `idempotency_key_release`), or the `StoredResponse` to replay.
    Raises `IdempotencyKeyReused` (422) when the key was used with another method, path or body, and
    `IdempotencyKeyInProgress` (409) while the first request is still running.

    Locks nothing: the INSERT commits on its own (in autocommit; a savepoint inside a test's
    transaction) and the unique constraint decides the winner. An expired row, or an in-progress row
    older than `IDEMPOTENCY_LEASE_SECONDS` (its request crashed), is deleted and the claim retried.
    """
    now = now or timezone.now()
    digest = request_digest(method=method, path=path, body=body)
    lookup = {"client_token": client_token, "scope": scope, "key": key}
    for _ in range(_CLAIM_ROUNDS):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    **lookup,
                    method=method.upper(),
                    path=path[:2000],
                    request_digest=digest,
                    state=IdempotencyKey.IN_PROGRESS,
                    created_at=now,
                    expires_at=now + _ttl(),
                )
        except IntegrityError:
            pass
        existing = IdempotencyKey.objects.filter(**lookup).first()
        if existing is None:
            continue  # released or purged since our INSERT failed: try again
        if existing.expires_at <= now:
            IdempotencyKey.objects.filter(pk=existing.pk, expires_at=existing.expires_at).delete()
            continue
        if existing.request_digest != digest:
            raise IdempotencyKeyReused()
        if existing.state == IdempotencyKey.COMPLETED:
            return StoredResponse(status=existing.response_status, body=bytes(existing.response_body or b""))
        if existing.created_at <= now - _lease():
            # The first request died without completing or releasing: let this retry run. The conditional
            # DELETE makes sure only one of several concurrent retries takes over (the others lose the INSERT).
            IdempotencyKey.objects.filter(
                pk=existing.pk, state=IdempotencyKey.IN_PROGRESS, created_at=existing.created_at
            ).delete()
            continue
        raise IdempotencyKeyInProgress()
    raise IdempotencyKeyInProgress()


def idempotency_key_complete(*, record: IdempotencyKey, status: int, body: bytes, now: datetime | None = None) -> bool:
    """Store the first response. Conditional on the row still being ours and in progress (a takeover after
    the lease replaced it); returns whether it was stored. Kept for `IDEMPOTENCY_KEY_TTL_SECONDS` from now."""
    now = now or timezone.now()
    updated = IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.IN_PROGRESS).update(
        state=IdempotencyKey.COMPLETED,
        response_status=status,
        response_body=body,
        expires_at=now + _ttl(),
    )
    return updated == 1


def idempotency_key_release(*, record: IdempotencyKey) -> None:
    """Forget an in-progress claim (the request ended in a 5xx or crashed), so that a retry runs again."""
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.IN_PROGRESS).delete()


def idempotency_keys_purge(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Delete expired keys in bounded batches (short statements, flat memory). Safe to run concurrently.
    Returns how many rows were deleted."""
    now = now or timezone.now()
    deleted = 0
    while True:
        ids = list(IdempotencyKey.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        count, _ = IdempotencyKey.objects.filter(pk__in=ids, expires_at__lte=now).delete()
        deleted += count
        if len(ids) < batch_size:
            return deleted
