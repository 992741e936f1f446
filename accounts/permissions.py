"""Token scopes: `read` reads, `ingest` posts detector data, `write` does all the role allows.

Views state what an unsafe request needs with `required_scope` ("write" by default,
"ingest" for the detection-tool endpoints). Browser sessions carry every scope; the
user's role still limits what they may do.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiToken

GRANTS: dict[str, set[str]] = {
    ApiToken.Scope.READ: {"read"},
    ApiToken.Scope.INGEST: {"ingest"},
    ApiToken.Scope.WRITE: {"read", "ingest", "write"},
}


class TokenScopePermission(BasePermission):
    message = "This token's scope does not allow this request."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_scopes", {"read"})
        else:
            needed = {getattr(view, "required_scope", "write")}
        return bool(GRANTS[token.scope] & set(needed))
