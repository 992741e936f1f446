from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken
from accounts.selectors import user_get_by_username
from accounts.services import api_token_create
from config.errors import DomainError


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--scope", required=True, choices=ApiToken.Scope.values)
        parser.add_argument(
            "--days", type=int, help="Lifetime in days; default: no expiry."
        )
        parser.add_argument("--name", default="", help="A label, e.g. the tool's name.")

    def handle(self, *args, username, scope, days, name, **options):
        user = user_get_by_username(username)
        if user is None:
            raise CommandError(f"There is no active user '{username}'.")
        try:
            _, secret = api_token_create(user=user, name=name, scope=scope, days=days)
        except DomainError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(secret)
