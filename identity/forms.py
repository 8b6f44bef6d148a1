"""The profile's settings: time zone and the digest e-mail."""

from functools import lru_cache
from zoneinfo import available_timezones

from django import forms

from identity.models import DigestEmail, User


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def valid_time_zone(value: str) -> bool:
    return value in time_zone_names()


class ProfileSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Times on your pages are shown in it. Your browser set it on your first visit.",
    )
    digest_email = forms.ChoiceField(
        label="E-mail me what apps did while I was away",
        choices=DigestEmail.choices,
        widget=forms.RadioSelect,
        help_text="A summary of background activity and anything refused. Off unless you turn it on.",
    )

    class Meta:
        model = User
        fields = ["time_zone", "digest_email"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [("", "Not set (UTC)")] + [
            (z, z.replace("_", " ")) for z in time_zone_names()
        ]
        self.fields["time_zone"].required = False
