import hashlib
import json
from datetime import UTC

from django.conf import settings
from django.db import models

from audit.actions import Action, ActorType, Outcome

GENESIS_HASH = "0" * 64


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only: they are never updated.")

    def delete(self):
        raise PermissionError("Audit events are append-only: archive them with `audit_archive`.")


def _loose_fk(model, related_name="+"):
    # No database constraint and no cascade: an event outlives what it names, and deleting a
    # person or an app must never rewrite (or delete) the history about them.
    return models.ForeignKey(
        model,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        # The composite (field, -occurred_at) indexes below lead with it: a second, single-column
        # index would only slow down every insert on the broker's hot path.
        db_index=False,
        related_name=related_name,
    )


class AuditEvent(models.Model):
    """One append-only, hash-chained record of something that happened.

    ``hash`` covers the event's content and the previous event's ``hash``, so altering or removing
    any stored event breaks the chain from that point (``manage.py audit_verify`` finds it).
    """

    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_user = _loose_fk(settings.AUTH_USER_MODEL)
    actor_label = models.CharField(max_length=255, blank=True)
    subject_user = _loose_fk(settings.AUTH_USER_MODEL)
    subject_label = models.CharField(max_length=255, blank=True)
    app = _loose_fk("apps_registry.App")
    app_label = models.CharField(max_length=255, blank=True)
    grant = _loose_fk("consent.Grant")
    action = models.CharField(max_length=64, choices=Action.choices)
    service = models.CharField(max_length=32, blank=True)
    scope = models.CharField(max_length=100, blank=True)
    resource = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    reason = models.CharField(max_length=500, blank=True)
    background = models.BooleanField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Both unique (constraints in Meta: on PostgreSQL a ``unique=True`` CharField also gets a
    # useless LIKE index). A unique prev_hash means the database refuses a fork of the chain.
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["hash"], name="audit_hash_unique"),
            models.UniqueConstraint(fields=["prev_hash"], name="audit_prev_hash_unique"),
        ]
        indexes = [
            models.Index(fields=["subject_user", "-occurred_at"], name="audit_subject_time"),
            models.Index(fields=["app", "-occurred_at"], name="audit_app_time"),
            models.Index(fields=["grant", "-occurred_at"], name="audit_grant_time"),
            models.Index(fields=["action", "-occurred_at"], name="audit_action_time"),
            models.Index(fields=["service", "-occurred_at"], name="audit_service_time"),
            # Admin filters and searches on a million rows (see bench/admin_audit_list.py).
            models.Index(fields=["outcome", "-occurred_at"], name="audit_outcome_time"),
            models.Index(fields=["actor_type", "-occurred_at"], name="audit_actor_type_time"),
            models.Index(fields=["actor_user", "-occurred_at"], name="audit_actor_time"),
            # Prefix search on resources (``LIKE 'octo/%'``) whatever the database's collation.
            models.Index(
                fields=["resource"], name="audit_resource_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.action} {self.outcome} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events are append-only: they are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only: archive them with `audit_archive`.")

    # Fields the hash covers, in a fixed order. Adding a field here changes every future hash, so
    # only append to this list.
    HASHED_FIELDS = (
        "occurred_at", "actor_type", "actor_user_id", "actor_label", "subject_user_id",
        "subject_label", "app_id", "app_label", "grant_id", "action", "service", "scope",
        "resource", "outcome", "reason", "background", "request_id", "source_ip", "metadata",
    )  # fmt: skip

    def canonical(self) -> dict:
        """The hashed content, in the form it has once stored and read back (so that an event
        hashes the same in memory at insert time and when ``audit_verify`` reloads it)."""
        data = {name: getattr(self, name) for name in self.HASHED_FIELDS}
        data["occurred_at"] = self.occurred_at.astimezone(UTC).isoformat()
        for name in ("actor_type", "action", "outcome"):
            data[name] = str(data[name])
        return data

    def compute_hash(self, prev_hash: str) -> str:
        return chain_hash(prev_hash, self.canonical())


def chain_hash(prev_hash: str, canonical: dict) -> str:
    """The hash of one event: its canonical content chained to its predecessor's hash."""
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}|{payload}".encode()).hexdigest()
