from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from identity.forms import ProfileSettingsForm, valid_time_zone
from identity.mfa import has_mfa
from identity.pages import page


def admin_login(request, extra_context=None):
    """Replace the admin's login form with allauth's, which asks for the second factor.

    The admin sends a signed-in person who is not staff here too; sending them on to sign in
    again would loop (admin -> login -> admin), so they get a clear "staff only" page."""
    if request.user.is_authenticated and not request.user.is_staff:
        return page(
            request,
            403,
            title="The administration is for staff only",
            sentence=f"You are signed in as {request.user.email}, which is not a staff account.",
            hint="Everything you can manage yourself is on Your access and Connected services.",
        )
    next_url = request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("admin:index")
    return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


def home(request):
    if request.user.is_authenticated:
        return redirect("/access/")
    return render(request, "identity/home.html")


@login_required
def profile(request):
    form = ProfileSettingsForm(
        request.POST if request.method == "POST" else None, instance=request.user
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your settings are saved.")
        return redirect("identity:profile")
    return render(
        request,
        "identity/profile.html",
        {"mfa_enabled": has_mfa(request.user), "form": form},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_POST
def time_zone_detected(request):
    """The browser's time zone, sent once by platform.js while the profile has none.

    It never overwrites a zone the person chose: only an empty setting is filled.
    """
    zone = request.POST.get("time_zone", "")
    if not valid_time_zone(zone):
        return JsonResponse(
            {"error": {"code": "invalid_time_zone", "message": "Not a known time zone."}},
            status=400,
        )
    get_user_model().objects.filter(pk=request.user.pk, time_zone="").update(time_zone=zone)
    return JsonResponse({"time_zone": zone})


@login_required
def staff_mfa_required(request):
    """Staff without a second factor: it is provisioned by an operator, not enrolled here."""
    return render(request, "identity/staff_mfa_required.html", status=403)


def favicon(request):
    # Resolved per request, not at import: with hashed static names the manifest exists only
    # after collectstatic, and importing the URLconf must not depend on it.
    return HttpResponsePermanentRedirect(static("platform/favicon.svg"))
