from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from identity.mfa import has_mfa


class StaffMFAMiddleware:
    """Staff reach ``/admin/`` only with multi-factor authentication turned on, and never enrol
    it themselves: a stolen staff password alone must not be enough to set up a second factor
    (issue 12, item 6). Staff MFA is provisioned by an operator with
    ``manage.py staff_mfa_provision`` and handed over out of band (docs/guide-operators.md)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff and not has_mfa(user):
            if request.path.startswith(reverse("admin:index")):
                return redirect(reverse("identity:staff-mfa-required"))
            if request.path == reverse("mfa_activate_totp") or request.path.startswith(
                reverse("mfa_activate_totp")
            ):
                return render(request, "identity/staff_mfa_required.html", status=403)
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
