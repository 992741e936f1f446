from django.db.models import QuerySet

from accounts.models import ApiToken, SecurityEvent, User


def user_get_by_username(username: str) -> User | None:
    return User.objects.filter(username=username, is_active=True).first()


def api_token_list_for_user(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("revoked_by")


def api_token_get_for_user(user: User, token_id: int) -> ApiToken | None:
    return ApiToken.objects.filter(user=user, pk=token_id).first()


def user_list_for_admin() -> QuerySet[User]:
    return User.objects.order_by("username")


def security_event_list() -> QuerySet[SecurityEvent]:
    return SecurityEvent.objects.select_related("actor")
