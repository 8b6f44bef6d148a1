"""Every kind of event the audit log records. Other apps name actions only through this enum."""

from django.db import models


class Action(models.TextChoices):
    # identity
    SIGNED_IN = "identity.signed_in", "Signed in"
    SIGN_IN_FAILED = "identity.sign_in_failed", "Sign-in failed"
    SIGNED_OUT = "identity.signed_out", "Signed out"
    MFA_ENABLED = "identity.mfa_enabled", "Two-factor authentication turned on"
    MFA_DISABLED = "identity.mfa_disabled", "Two-factor authentication turned off"
    MFA_RESET = "identity.mfa_reset", "Two-factor recovery codes regenerated"
    # connections
    CONNECTION_CREATED = "connection.created", "Service connected"
    CONNECTION_UPGRADED = "connection.upgraded", "Service access upgraded"
    CONNECTION_REFRESHED = "connection.refreshed", "Service token refreshed"
    CONNECTION_REFRESH_FAILED = "connection.refresh_failed", "Service token refresh failed"
    CONNECTION_NEEDS_REAUTH = "connection.needs_reauthorization", "Service needs re-authorization"
    CONNECTION_REVOKED = "connection.revoked", "Service disconnected"
    CONNECTION_FAILED = "connection.failed", "Service connection failed"
    # apps registry
    APP_REGISTERED = "app.registered", "App registered"
    APP_UPDATED = "app.updated", "App updated"
    APP_SECRET_ROTATED = "app.secret_rotated", "App client secret rotated"
    APP_SUSPENDED = "app.suspended", "App suspended"
    APP_UNSUSPENDED = "app.unsuspended", "App suspension lifted"
    APP_VERIFIED = "app.verified", "App verified"
    # consent and grants
    CONSENT_SHOWN = "consent.shown", "Consent screen shown"
    CONSENT_GRANTED = "consent.granted", "Access granted"
    CONSENT_DENIED = "consent.denied", "Access denied by the person"
    GRANT_CHANGED = "grant.changed", "Access changed"
    GRANT_EXPIRED = "grant.expired", "Access expired"
    GRANT_REVOKED = "grant.revoked", "Access revoked"
    # platform tokens
    TOKEN_ISSUED = "token.issued", "Platform token issued"
    TOKEN_REVOKED = "token.revoked", "Platform token revoked"
    TOKEN_REUSE_DETECTED = "token.reuse_detected", "Refresh token reuse detected"
    # broker
    API_CALL = "broker.call", "API call"
    BACKGROUND_JOB_CHECKED = "broker.job_checked", "Background job checked"
    BACKGROUND_JOB_LOST_PERMISSION = "broker.job_lost_permission", "Background job lost permission"
    PENDING_ACTION_CREATED = "pending_action.created", "Action waiting for approval"
    PENDING_ACTION_APPROVED = "pending_action.approved", "Action approved"
    PENDING_ACTION_REJECTED = "pending_action.rejected", "Action rejected"
    PENDING_ACTION_EXECUTED = "pending_action.executed", "Action performed"
    PENDING_ACTION_EXPIRED = "pending_action.expired", "Action expired"
    # audit itself
    AUDIT_ARCHIVED = "audit.archived", "Audit events archived"


class ActorType(models.TextChoices):
    PERSON = "person", "Person"
    APP = "app", "App"
    STAFF = "staff", "Staff member"
    SYSTEM = "system", "System"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    FAILURE = "failure", "Failure"
    PENDING = "pending", "Pending"
