"""factory_boy factories, one per model the tests build. Apps add theirs here."""

import factory
from allauth.account.models import EmailAddress

from identity.models import User

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            self.save(update_fields=["password"])
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class PublisherFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "apps_registry.Publisher"

    name = factory.Sequence(lambda n: f"Publisher {n}")
    owner = factory.SubFactory(UserFactory)


class OAuthClientFactory(factory.django.DjangoModelFactory):
    """A confidential client; pass ``client_secret=...`` to know the plaintext (it is hashed)."""

    class Meta:
        model = "apps_registry.OAuthClient"

    name = factory.Sequence(lambda n: f"Client {n}")
    client_type = "confidential"
    authorization_grant_type = "authorization-code"
    redirect_uris = "https://app.example.com/callback"
    client_secret = "test-client-secret-0123456789abcdef"
    allow_client_credentials = True
    user = factory.SubFactory(UserFactory)


class AppFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "apps_registry.App"
        skip_postgeneration_save = True

    client = factory.SubFactory(OAuthClientFactory)
    publisher = factory.SubFactory(PublisherFactory)
    name = factory.Sequence(lambda n: f"Acme Agent {n}")
    description = "Summarises your repositories."
    homepage_url = "https://app.example.com/"
    may_request_background = True

    @factory.post_generation
    def scopes(self, create, extracted, **kwargs):
        """``scopes=["a", "b"]`` (all required) or ``scopes={"a": True, "b": False}``."""
        from apps_registry.models import AppScope

        if not create or extracted is None:
            return
        items = extracted.items() if isinstance(extracted, dict) else ((s, True) for s in extracted)
        for scope, required in items:
            AppScope.objects.create(app=self, scope=scope, required=required)


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "connections.Connection"

    user = factory.SubFactory(UserFactory)
    provider = "sandbox_github"
    provider_account_id = factory.Sequence(lambda n: str(1000 + n))
    login = factory.Sequence(lambda n: f"octo{n}")
    display_name = "Octo Cat"
    scopes = factory.LazyFunction(lambda: ["repo", "read:user"])
    access_token = factory.Sequence(lambda n: f"sandbox-access-{n}")
    refresh_token = factory.Sequence(lambda n: f"sandbox-refresh-{n}")


class GrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "consent.Grant"

    user = factory.SubFactory(UserFactory)
    app = factory.SubFactory(AppFactory)
    scopes = factory.LazyFunction(lambda: ["services.github.repositories.read"])
