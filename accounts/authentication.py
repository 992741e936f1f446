"""`Authorization: Bearer <token>` for the API, with scopes checked per request."""

from rest_framework import authentication, exceptions

from accounts.models import ApiToken
from accounts.services import api_token_touch, hash_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, secret = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        secret = secret.strip()
        if not secret:
            raise exceptions.AuthenticationFailed("The Bearer token is missing.")
        token = (
            ApiToken.objects.select_related("user")
            .filter(token_hash=hash_token(secret))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid.")
        if token.is_revoked:
            raise exceptions.AuthenticationFailed("The token has been revoked.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed("The token has expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is deactivated.")
        api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Naming a scheme makes DRF answer 401 (not 403) to anonymous callers.
        return 'Bearer realm="casebook"'
