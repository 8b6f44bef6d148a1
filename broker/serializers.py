"""Request validation and the response shapes the OpenAPI schema documents."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from connections.providers.operations import Operation


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    scope = serializers.CharField(required=False)
    url = serializers.CharField(required=False)
    upstream_status = serializers.IntegerField(required=False)
    retry_after = serializers.IntegerField(required=False)
    fields = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


class ListResultSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.DictField())
    next_page = serializers.CharField(allow_null=True)


class ObjectResultSerializer(serializers.Serializer):
    data = serializers.DictField()


class PendingActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=[
            "pending",
            "approved",
            "performing",
            "succeeded",
            "failed",
            "rejected",
            "expired",
            "outcome_unknown",
        ]
    )
    status_url = serializers.CharField()
    operation = serializers.CharField()
    service = serializers.CharField()
    resource = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    result = inline_serializer(
        "PendingActionResult",
        fields={
            "upstream_status": serializers.IntegerField(allow_null=True),
            "data": serializers.DictField(allow_null=True),
            "error": serializers.CharField(allow_null=True),
        },
        required=False,
    )


class PendingActionEnvelopeSerializer(serializers.Serializer):
    pending_action = PendingActionSerializer()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    email = serializers.EmailField(
        allow_null=True, help_text="A verified address of the person, or null if none is."
    )
    email_verified = serializers.BooleanField(
        help_text="True when `email` is an address the person verified (then it is never false "
        "with a value: unverified addresses are not returned)."
    )


class TokenInfoSerializer(serializers.Serializer):
    grant = serializers.IntegerField()
    scopes = serializers.ListField(child=serializers.CharField())
    services = serializers.DictField(
        child=inline_serializer(
            "ServiceAccess",
            fields={
                "provider": serializers.CharField(allow_null=True),
                "connection_active": serializers.BooleanField(),
            },
        )
    )
    resources = serializers.DictField(child=serializers.ListField(child=serializers.DictField()))
    background = serializers.BooleanField()
    background_allowed = serializers.BooleanField()
    unattended_writes = serializers.BooleanField()
    expires_at = serializers.DateTimeField()
    grant_expires_at = serializers.DateTimeField(allow_null=True)


class JobCheckRequestSerializer(serializers.Serializer):
    job = serializers.CharField(max_length=200)
    grant = serializers.IntegerField(min_value=1, max_value=2**62)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=20, allow_empty=True
    )


class JobCheckResultSerializer(serializers.Serializer):
    job = serializers.CharField()
    grant = serializers.IntegerField()
    allowed = serializers.BooleanField()
    decision = serializers.ChoiceField(choices=["allow", "deny"])
    reason = serializers.CharField()
    checked_at = serializers.DateTimeField()


def request_serializer(operation: Operation):
    if not operation.body_fields:
        return None
    fields = {}
    for spec in operation.body_fields:
        fields[spec.name] = serializers.CharField(
            required=spec.required, max_length=spec.max_length, allow_blank=not spec.required
        )
    name = "".join(part.title() for part in operation.name.replace("_", ".").split("."))
    return inline_serializer(f"{name}Request", fields=fields)
