from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from identity.mfa import has_mfa


class StaffMFAMiddleware:
    """Staff reach ``/admin/`` only with multi-factor authentication turned on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(reverse("admin:index")):
            user = request.user
            if user.is_authenticated and user.is_staff and not has_mfa(user):
                messages.warning(
                    request,
                    "Staff accounts must turn on two-factor authentication before using the admin.",
                )
                return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)


class PersonTimeZoneMiddleware:
    """Pages show times in the signed-in person's time zone (their profile setting)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = getattr(getattr(request, "user", None), "time_zone", "")
        if zone:
            try:
                timezone.activate(ZoneInfo(zone))
            except (ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
