"""Sign-in, sign-out and MFA changes, recorded from Django's and allauth's signals.

Connected in ``AuditConfig.ready``. Identity owns the flows; these receivers only translate the
signals into audit events (nothing from the credentials except a well-formed e-mail address).
"""

from __future__ import annotations

import re

from allauth.mfa import signals as mfa_signals
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.actions import Action, ActorType, Outcome
from audit.services import record_event

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")


def _authenticator_type(authenticator) -> str:
    return str(getattr(authenticator, "type", "") or "")


@receiver(user_logged_in, dispatch_uid="audit.signed_in")
def on_signed_in(sender, request, user, **kwargs):
    record_event(
        Action.SIGNED_IN,
        actor_type=ActorType.PERSON,
        actor_user=user,
        subject_user=user,
        request=request,
    )


@receiver(user_logged_out, dispatch_uid="audit.signed_out")
def on_signed_out(sender, request, user, **kwargs):
    if user is None or not getattr(user, "is_authenticated", False):
        return
    record_event(
        Action.SIGNED_OUT,
        actor_type=ActorType.PERSON,
        actor_user=user,
        subject_user=user,
        request=request,
    )


@receiver(user_login_failed, dispatch_uid="audit.sign_in_failed")
def on_sign_in_failed(sender, credentials, request=None, **kwargs):
    # ``credentials`` has the password already masked by Django; still, keep only an identifier
    # that is shaped like an e-mail address (people do type passwords into the e-mail field).
    raw = str(credentials.get("email") or credentials.get("username") or "").strip().lower()
    identifier = raw if _EMAIL.match(raw) else ""
    subject = None
    if identifier:
        subject = get_user_model().objects.filter(email=identifier).first()
    record_event(
        Action.SIGN_IN_FAILED,
        actor_type=ActorType.PERSON,
        subject_user=subject,
        outcome=Outcome.FAILURE,
        reason="wrong e-mail address or password",
        request=request,
        metadata={"identifier": identifier or "[not an e-mail address]"},
    )


def _record_mfa_change(action: Action, request, user, authenticator) -> None:
    record_event(
        action,
        actor_type=ActorType.PERSON,
        actor_user=user,
        subject_user=user,
        request=request,
        metadata={"authenticator": _authenticator_type(authenticator)},
    )


@receiver(mfa_signals.authenticator_added, dispatch_uid="audit.mfa_added")
def on_mfa_added(sender, request, user, authenticator, **kwargs):
    _record_mfa_change(Action.MFA_ENABLED, request, user, authenticator)


@receiver(mfa_signals.authenticator_removed, dispatch_uid="audit.mfa_removed")
def on_mfa_removed(sender, request, user, authenticator, **kwargs):
    _record_mfa_change(Action.MFA_DISABLED, request, user, authenticator)


@receiver(mfa_signals.authenticator_reset, dispatch_uid="audit.mfa_reset")
def on_mfa_reset(sender, request, user, authenticator, **kwargs):
    _record_mfa_change(Action.MFA_RESET, request, user, authenticator)


@receiver(mfa_signals.authentication_failed, dispatch_uid="audit.mfa_failed")
def on_mfa_failed(sender, request, user, authenticator=None, **kwargs):
    record_event(
        Action.SIGN_IN_FAILED,
        actor_type=ActorType.PERSON,
        subject_user=user,
        outcome=Outcome.FAILURE,
        reason="wrong two-factor code",
        request=request,
        metadata={
            "authenticator": _authenticator_type(authenticator),
            "reauthentication": bool(kwargs.get("reauthentication", False)),
        },
    )
