"""Writes for users, memberships, API tokens and sign-in records."""

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import ApiToken, Membership, SecurityEvent, SignInThrottle, User
from config.errors import Conflict, InvalidInput, NotAllowed
from incidents.history import history_record

if TYPE_CHECKING:
    from incidents.models import Incident

TOKEN_PREFIX = "cb_"


def hash_token(secret: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough: there is
    # nothing to brute-force, unlike a password.
    return hashlib.sha256(secret.encode()).hexdigest()


def user_create(
    *,
    username: str,
    role: str,
    password: str | None = None,
    email: str = "",
    full_name: str = "",
    by: User | None = None,
) -> User:
    """Create a user. Service users have no usable password (tokens only).

    Records `user_created`.
    """
    if by is not None and not by.is_admin:
        raise NotAllowed("Only an administrator can create users.")
    username = (username or "").strip()
    if not username:
        raise InvalidInput.for_field("username", "A username is required.")
    if role not in User.Role.values:
        raise InvalidInput.for_field(
            "role", f"'{role}' is not a role ({', '.join(User.Role.values)})."
        )
    first, _, last = (full_name or "").strip().partition(" ")
    user = User(
        username=username, role=role, email=email, first_name=first, last_name=last
    )
    try:
        # The model's own validators (username characters and length, e-mail):
        # a username such as "a/b" would break every URL that names a user.
        user.full_clean(
            exclude=["password"], validate_unique=False, validate_constraints=False
        )
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        field = "full_name" if field in ("first_name", "last_name") else field
        raise InvalidInput.for_field(field, " ".join(messages)) from None
    if password:
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise InvalidInput.for_field("password", " ".join(error.messages)) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.is_staff = role == User.Role.ADMIN
    user.is_superuser = role == User.Role.ADMIN
    try:
        with transaction.atomic():
            user.save()
            SecurityEvent.objects.create(
                kind=SecurityEvent.Kind.USER_CREATED,
                actor=by,
                username=username,
                detail={"role": role},
            )
    except IntegrityError:
        raise Conflict(f"A user named '{username}' already exists.") from None
    return user


def membership_add(
    *, incident: "Incident", user: User, by: User
) -> tuple[Membership, bool]:
    """Give `user` access to `incident`. Returns (membership, created).

    Records `member.added` in the incident history. Callers check `by`'s rights.
    """
    if not user.is_active:
        raise InvalidInput.for_field("user", f"{user.username} is not an active user.")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            incident=incident, user=user, defaults={"added_by": by}
        )
        if created:
            history_record(
                incident=incident,
                actor=by,
                action="member.added",
                summary=f"Added member {user.username} ({user.role})",
                after={"user": user.username, "role": user.role},
            )
    return membership, created


def membership_remove(*, incident: "Incident", user: User, by: User) -> None:
    """Take away `user`'s access. The owner cannot be removed (move ownership first).

    Records `member.removed` in the incident history.
    """
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(incident=incident, user=user)
            .first()
        )
        if membership is None:
            raise InvalidInput.for_field("user", f"{user.username} is not a member.")
        if incident.owner_id == user.pk:
            raise Conflict(
                f"{user.username} owns {incident.reference}; change the owner first."
            )
        # Memberships are access grants, not records; the history keeps the record.
        membership.delete()
        history_record(
            incident=incident,
            actor=by,
            action="member.removed",
            summary=f"Removed member {user.username}",
            before={"user": user.username, "role": user.role},
        )


def api_token_create(
    *,
    user: User,
    name: str,
    scope: str,
    days: int | None = None,
    by: User | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored or shown again.

    Records `token_created`.
    """
    by = by or user
    if by.pk != user.pk and not by.is_admin:
        raise NotAllowed("You can only create tokens for yourself.")
    if scope not in ApiToken.Scope.values:
        raise InvalidInput.for_field(
            "scope", f"'{scope}' is not a scope (read, ingest, write)."
        )
    if days is not None and not 1 <= days <= 3650:
        raise InvalidInput.for_field("days", "A token lives between 1 and 3650 days.")
    name = (name or "").strip() or f"{scope} token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100],
            scope=scope,
            token_hash=hash_token(secret),
            prefix=secret[:10],
            created_at=now,
            expires_at=now + timedelta(days=days) if days else None,
        )
        SecurityEvent.objects.create(
            kind=SecurityEvent.Kind.TOKEN_CREATED,
            actor=by,
            username=user.username,
            detail={
                "token": token.pk,
                "name": token.name,
                "scope": scope,
                "days": days,
            },
        )
    return token, secret


def api_token_revoke(*, token: ApiToken, by: User) -> ApiToken:
    """Revoke a token at once; revoking twice changes nothing. Records `token_revoked`."""
    if by.pk != token.user_id and not by.is_admin:
        raise NotAllowed("You can only revoke your own tokens.")
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at:
            return token
        token.revoked_at = timezone.now()
        token.revoked_by = by
        token.save(update_fields=["revoked_at", "revoked_by"])
        SecurityEvent.objects.create(
            kind=SecurityEvent.Kind.TOKEN_REVOKED,
            actor=by,
            username=token.user.username,
            detail={"token": token.pk, "name": token.name},
        )
    return token


def _throttle_limits(*, username: str, ip_address: str | None) -> dict[str, int]:
    address = ip_address or "unknown"
    # casefold: "ALICE" and "alice" are one target for a guesser.
    account = f"account:{address}:{username.casefold()}"[:255]
    return {
        account: settings.LOGIN_FAILURE_LIMIT,
        f"address:{address}": settings.LOGIN_FAILURE_ADDRESS_LIMIT,
    }


def sign_in_attempt_reserve(*, username: str, ip_address: str | None) -> bool:
    """Reserve one sign-in attempt before the password is checked; False if throttled.

    Design. Two counters, each a fixed window of LOGIN_FAILURE_WINDOW_SECONDS:

    - (username, client address), limit LOGIN_FAILURE_LIMIT: guessing one account's
      password from one address stops after a few tries. It is keyed on the address
      too so that nobody can lock a user out from elsewhere: while an attacker
      hammers "alice" from their address, alice from hers still signs in.
    - client address, limit LOGIN_FAILURE_ADDRESS_LIMIT: one address cannot spray
      a few guesses at each of many usernames. It blocks only that address.

    The address is `accounts.client_address`, which believes X-Forwarded-For only from
    TRUSTED_PROXIES; behind a proxy that is not listed, every client shares the
    proxy's address and these limits apply to all of them together.

    A guesser spread over many addresses gets LOGIN_FAILURE_LIMIT tries per address
    and window at one account: the price of never letting one attacker lock a user
    out everywhere. Every failure is in the security log for an administrator to see.

    Atomic: the attempt is counted before the password is checked, under a row lock
    on both counters (taken in key order, so two attempts cannot deadlock; SQLite
    serialises the whole transaction instead). N parallel attempts therefore check
    at most the limit's worth of passwords, and the rest are refused unchecked.
    Nothing is recorded in the security log here; the caller records the outcome.
    """
    limits = _throttle_limits(username=username, ip_address=ip_address)
    now = timezone.now()
    window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    with transaction.atomic():
        # Make sure both rows exist (a conflict with a concurrent insert waits for it
        # and does nothing), then lock them: a conditional update in one transaction.
        SignInThrottle.objects.bulk_create(
            [SignInThrottle(key=key, window_started_at=now) for key in sorted(limits)],
            ignore_conflicts=True,
        )
        counters = list(
            SignInThrottle.objects.select_for_update()
            .filter(key__in=limits)
            .order_by("key")
        )
        for counter in counters:
            if now - counter.window_started_at >= window:
                counter.attempts = 0
                counter.window_started_at = now
        if any(counter.attempts >= limits[counter.key] for counter in counters):
            return False
        for counter in counters:
            counter.attempts += 1
            counter.save(update_fields=["attempts", "window_started_at"])
    return True


def sign_in_attempt_succeeded(*, username: str, ip_address: str | None) -> None:
    """Give back the attempt reserved for a sign-in that succeeded.

    The right password clears the user's failures from this address; the address
    counter only loses this attempt, which was not a failure.
    """
    account, address = _throttle_limits(username=username, ip_address=ip_address)
    with transaction.atomic():  # same key order as sign_in_attempt_reserve
        SignInThrottle.objects.filter(key=account).update(attempts=0)
        SignInThrottle.objects.filter(key=address, attempts__gt=0).update(
            attempts=F("attempts") - 1
        )


def sign_in_record(
    *, kind: str, username: str, ip_address: str | None, user: User | None = None
) -> SecurityEvent:
    return SecurityEvent.objects.create(
        kind=kind, actor=user, username=username[:150], ip_address=ip_address
    )


def api_token_touch(*, token: ApiToken) -> None:
    """Note the token's use, at most once a minute to keep reads cheap."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(seconds=60):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
