from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from identity.mfa import has_mfa


def admin_login(request, extra_context=None):
    """Replace the admin's login form with allauth's, which asks for the second factor."""
    next_url = request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("admin:index")
    return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


def home(request):
    if request.user.is_authenticated:
        return redirect("identity:profile")
    return render(request, "identity/home.html")


@login_required
def profile(request):
    return render(request, "identity/profile.html", {"mfa_enabled": has_mfa(request.user)})
