from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import user_create
from config.errors import DomainError


class Command(BaseCommand):
    help = "Create a Casebook user with a role (service users get no password)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=User.Role.values)
        parser.add_argument(
            "--password", help="Omit for a service account (tokens only)."
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--name", default="", help="Full name.")

    def handle(self, *args, username, role, password, email, name, **options):
        try:
            user = user_create(
                username=username,
                role=role,
                password=password,
                email=email,
                full_name=name,
            )
        except DomainError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(f"Created {user.username} ({user.role}).")
