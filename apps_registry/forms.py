from django import forms

from apps_registry.models import OAuthClient
from apps_registry.oauth import BACKGROUND_SCOPE

SCOPE_CHOICES = [("", "Not requested"), ("optional", "Optional"), ("required", "Required")]


def _catalog():
    from oauth2_provider.scopes import get_scopes_backend

    return get_scopes_backend().get_all_scopes()


class AppDetailsForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    homepage_url = forms.URLField(label="Homepage URL", required=False, assume_scheme="https")
    logo_url = forms.URLField(label="Logo URL", required=False, assume_scheme="https")
    privacy_policy_url = forms.URLField(
        label="Privacy policy URL", required=False, assume_scheme="https"
    )
    terms_url = forms.URLField(label="Terms URL", required=False, assume_scheme="https")
    contact_email = forms.EmailField(label="Contact e-mail", required=False)
    may_request_background = forms.BooleanField(
        required=False, label="The app may ask for background access"
    )
    allow_client_credentials = forms.BooleanField(
        required=False,
        label="The app's backend may use client credentials (confidential apps only)",
    )

    def __init__(self, *args, initial_scopes=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.scope_fields = []
        for name, sentence in _catalog().items():
            field_name = "scope__" + name.replace(".", "__")
            self.fields[field_name] = forms.ChoiceField(
                choices=SCOPE_CHOICES, required=False, label=f"{name}: {sentence}"
            )
            if initial_scopes and name in initial_scopes:
                self.initial[field_name] = "required" if initial_scopes[name] else "optional"
            self.scope_fields.append(field_name)

    def scopes(self) -> dict[str, bool]:
        result = {}
        for field_name in self.scope_fields:
            value = self.cleaned_data.get(field_name)
            if value:
                result[field_name[len("scope__") :].replace("__", ".")] = value == "required"
        return result

    def clean(self):
        data = super().clean()
        if BACKGROUND_SCOPE in self.scopes() and not data.get("may_request_background"):
            self.add_error("may_request_background", "Tick this to request agents.jobs.background.")
        return data


class RegisterAppForm(AppDetailsForm):
    client_type = forms.ChoiceField(
        choices=[
            (OAuthClient.CLIENT_CONFIDENTIAL, "Confidential (a server that keeps a secret)"),
            (OAuthClient.CLIENT_PUBLIC, "Public (a native, command-line or browser app)"),
        ]
    )
    redirect_uris = forms.CharField(
        label="Redirect URIs",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line. https, or http://127.0.0.1 / http://[::1] for native apps.",
    )
    field_order = ["name", "client_type", "redirect_uris"]

    def redirect_uri_list(self) -> list[str]:
        return [
            line.strip() for line in self.cleaned_data["redirect_uris"].splitlines() if line.strip()
        ]


class RedirectUriForm(forms.Form):
    uri = forms.CharField(max_length=2000, label="Redirect URI")
