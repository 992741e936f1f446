import factory

from accounts.models import User
from accounts.services import api_token_create
from incidents import services
from incidents.models import Incident

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = User.Role.ANALYST
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_incident(*, by: User, members: list[User] = (), **fields) -> Incident:
    """An incident opened through the service, as the UI and API do."""
    fields.setdefault("title", "Templated harvesting from proxy range")
    fields.setdefault("kind", Incident.Kind.DISTILLATION)
    fields.setdefault("severity", Incident.Severity.HIGH)
    incident = services.incident_open(by=by, **fields)
    for member in members:
        services.membership_add(incident=incident, user=member, by=by)
    return incident


def make_token(user: User, scope: str = "write", **kwargs) -> str:
    return api_token_create(
        user=user, name=f"{scope} test token", scope=scope, **kwargs
    )[1]
