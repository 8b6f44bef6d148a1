"""Error pages in the site's style: a sentence a person understands and a way back.

They live here, at the bottom layer, because every app's views answer with them (the admin's
"staff only" page is identity's); ``config.errors`` uses them for Django's ``handler400`` ...
``handler500``.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.template import loader

logger = logging.getLogger(__name__)

PAGES = {
    400: (
        "That request could not be understood",
        "Something in the address or the form was malformed, so nothing was changed.",
    ),
    403: (
        "You cannot open this page",
        "Your account does not have access to it. If you think it should, ask the person who "
        "runs this platform.",
    ),
    404: (
        "This page does not exist",
        "The address may be mistyped, or what it pointed to was removed.",
    ),
    500: (
        "Something went wrong on our side",
        "The platform could not finish this request. Nothing you did caused it; it has been "
        "logged, and trying again in a moment usually works.",
    ),
}


def page(request, status: int, *, title: str = "", sentence: str = "", hint: str = ""):
    """An error page in the site's style; falls back to plain text if even that fails."""
    default_title, default_sentence = PAGES.get(status, PAGES[500])
    context = {
        "status": status,
        "title": title or default_title,
        "sentence": sentence or default_sentence,
        "hint": hint,
        "request_id": getattr(request, "request_id", ""),
        **_way_back(request),
    }
    try:
        body = loader.render_to_string(f"{status}.html", context, request=request)
    except Exception:  # a broken template or context processor must not hide the real error
        logger.exception("the %s page could not be rendered", status)
        body = f"{context['title']}. {context['sentence']}"
        return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    return HttpResponse(body, status=status)


def _way_back(request) -> dict:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return {"back_url": "/access/", "back_label": "Back to Your access"}
    return {"back_url": "/", "back_label": "Back to the home page"}
