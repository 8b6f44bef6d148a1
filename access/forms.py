import datetime as dt

from django import forms

from consent.catalog import CATALOG, SERVICES


class ActivityFilterForm(forms.Form):
    app = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="App")
    service = forms.ChoiceField(required=False, label="Service")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, apps=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [("", "All apps"), *apps]
        self.fields["service"].choices = [("", "All services")] + [
            (s.id, s.name) for s in SERVICES.values()
        ]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            raise forms.ValidationError("The end date is before the start date.")
        return data

    @staticmethod
    def start_of(day: dt.date | None) -> dt.datetime | None:
        return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) if day else None


class NarrowGrantForm(forms.Form):
    """Tick what to take away; everything left unticked keeps working."""

    remove_scopes = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Permissions to remove"
    )
    remove_resources = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Resources to remove"
    )

    def __init__(self, *args, grant, **kwargs):
        super().__init__(*args, **kwargs)
        self.grant = grant
        self.fields["remove_scopes"].choices = [
            (name, CATALOG[name].sentence if name in CATALOG else name) for name in grant.scopes
        ]
        self.fields["remove_resources"].choices = [
            (f"{scope}|{item['id']}", f"{item.get('label') or item['id']} ({_short(scope)})")
            for scope, items in grant.resources.items()
            for item in items
        ]

    def clean(self):
        data = super().clean()
        if not data.get("remove_scopes") and not data.get("remove_resources"):
            raise forms.ValidationError("Tick at least one permission or resource to remove.")
        resources: dict[str, list[str]] = {}
        for value in data.get("remove_resources", []):
            scope, _, resource_id = value.partition("|")
            resources.setdefault(scope, []).append(resource_id)
        data["resources_by_scope"] = resources
        return data


def _short(scope: str) -> str:
    entry = CATALOG.get(scope)
    return entry.sentence.split(":")[0] if entry else scope


class RevokeForm(forms.Form):
    confirm = forms.BooleanField(required=True, widget=forms.HiddenInput, initial=True)
