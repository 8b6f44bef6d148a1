from django.http import Http404
from django.shortcuts import render

from connections.sandbox.models import SandboxAccount


def home(request):
    from django.conf import settings

    if not settings.SANDBOX_ENABLED:
        raise Http404("The sandbox is disabled.")
    return render(
        request, "connections/sandbox/home.html", {"accounts": SandboxAccount.objects.all()}
    )
