"""Developer pages (``/developer/apps/``): thin views over apps_registry.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps_registry import selectors, services
from apps_registry.forms import AppDetailsForm, RedirectUriForm, RegisterAppForm
from apps_registry.services import RegistryError

DETAIL_FIELDS = (
    "name",
    "description",
    "homepage_url",
    "logo_url",
    "privacy_policy_url",
    "terms_url",
    "contact_email",
    "may_request_background",
)


def _own_app(request, pk):
    app = selectors.app_for_user(request.user, pk)
    if app is None:
        raise Http404("No such app.")
    return app


@login_required
def app_list(request):
    apps = selectors.apps_for_user(request.user).order_by("name")
    return render(request, "apps_registry/app_list.html", {"apps": apps})


@login_required
@require_http_methods(["GET", "POST"])
def app_create(request):
    form = RegisterAppForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            registration = services.app_register(
                owner=request.user,
                name=data["name"],
                client_type=data["client_type"],
                redirect_uris=form.redirect_uri_list(),
                scopes=form.scopes(),
                allow_client_credentials=data["allow_client_credentials"],
                request=request,
                **{k: data[k] for k in DETAIL_FIELDS if k != "name"},
            )
        except RegistryError as error:
            form.add_error(None, str(error))
        else:
            return _secret_page(request, registration.app, registration.client_secret, new=True)
    return render(request, "apps_registry/app_form.html", {"form": form, "creating": True})


def _secret_page(request, app, secret, *, new):
    # Rendered in the POST response itself: the secret is never stored in plaintext nor put in
    # a URL or the session, so it is shown exactly once.
    response = render(
        request, "apps_registry/app_secret.html", {"app": app, "secret": secret, "new": new}
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def app_detail(request, pk):
    app = _own_app(request, pk)
    return render(
        request,
        "apps_registry/app_detail.html",
        {
            "app": app,
            "client": app.client,
            "redirect_uris": app.client.redirect_uris.split(),
            "scopes": app.allowed_scopes.all(),
            "summary": selectors.app_access_summary(app),
            "people": selectors.app_people(app, viewer=request.user),
            "uri_form": RedirectUriForm(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def app_edit(request, pk):
    app = _own_app(request, pk)
    initial = {k: getattr(app, k) for k in DETAIL_FIELDS}
    initial["allow_client_credentials"] = app.client.allow_client_credentials
    current = {s.scope: s.required for s in app.allowed_scopes.all()}
    form = AppDetailsForm(request.POST or None, initial=initial, initial_scopes=current)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.app_update(
                app=app,
                actor=request.user,
                scopes=form.scopes(),
                allow_client_credentials=data["allow_client_credentials"],
                request=request,
                **{k: data[k] for k in DETAIL_FIELDS},
            )
        except RegistryError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Saved.")
            return redirect("apps_registry:detail", pk=app.pk)
    return render(request, "apps_registry/app_form.html", {"form": form, "app": app})


@login_required
@require_POST
def redirect_uri_add(request, pk):
    app = _own_app(request, pk)
    form = RedirectUriForm(request.POST)
    if form.is_valid():
        try:
            services.app_add_redirect_uri(
                app=app, actor=request.user, uri=form.cleaned_data["uri"], request=request
            )
            messages.success(request, "Redirect URI added.")
        except RegistryError as error:
            messages.error(request, str(error))
    else:
        messages.error(request, "Enter a redirect URI.")
    return redirect("apps_registry:detail", pk=app.pk)


@login_required
@require_POST
def redirect_uri_remove(request, pk):
    app = _own_app(request, pk)
    if request.POST.get("confirmed") != "yes":
        messages.error(request, "Nothing was removed: confirm the removal first.")
        return redirect("apps_registry:detail", pk=app.pk)
    try:
        services.app_remove_redirect_uri(
            app=app, actor=request.user, uri=request.POST.get("uri", ""), request=request
        )
        messages.success(request, "Redirect URI removed.")
    except RegistryError as error:
        messages.error(request, str(error))
    return redirect("apps_registry:detail", pk=app.pk)


@login_required
@require_POST
def secret_rotate(request, pk):
    app = _own_app(request, pk)
    if request.POST.get("confirmed") != "yes":
        messages.error(request, "The secret was not rotated: confirm the rotation first.")
        return redirect("apps_registry:detail", pk=app.pk)
    try:
        secret = services.app_rotate_secret(app=app, actor=request.user, request=request)
    except RegistryError as error:
        messages.error(request, str(error))
        return redirect("apps_registry:detail", pk=app.pk)
    return _secret_page(request, app, secret, new=False)
