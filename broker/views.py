"""Thin HTTP edges: one generic view class per route, built from the operation declarations."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from broker import exceptions, services
from broker.serializers import (
    ErrorSerializer,
    JobCheckRequestSerializer,
    JobCheckResultSerializer,
    ListResultSerializer,
    MeSerializer,
    ObjectResultSerializer,
    PendingActionEnvelopeSerializer,
    TokenInfoSerializer,
    request_serializer,
)
from connections.providers.operations import Operation

ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in (
        (400, "invalid_request"),
        (401, "invalid_token"),
        (403, "insufficient_scope, resource_not_granted, background_not_allowed, "
              "grant_revoked, app_suspended"),
        (404, "not_found"),
        (409, "connection_needs_reauthorization"),
        (429, "rate_limited, upstream_rate_limited (see Retry-After)"),
        (502, "upstream_error"),
        (503, "upstream_unavailable"),
    )
}  # fmt: skip
PAGE_PARAMS = [
    OpenApiParameter("page", OpenApiTypes.STR, description="Cursor from next_page."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Items per page."),
]


class BrokerAPIView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]


def as_response(result: services.BrokerResult):
    if result.content is not None:
        response = HttpResponse(result.content, content_type=result.content_type)
        response["Content-Disposition"] = "attachment"
        response["X-Content-Type-Options"] = "nosniff"
        return response
    return Response(result.data, status=result.status, headers=result.headers)


def _handler(operation: Operation):
    def handle(self, request, **kwargs):
        body = request.data if operation.is_write else None
        result = services.broker_call(
            request=request,
            operation=operation,
            scope=operation.scope,
            params={k: str(v) for k, v in kwargs.items()},
            query=request.query_params,
            body=body,
        )
        return as_response(result)

    if operation.raw_response:
        ok = {(200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The file's content")}
    elif operation.is_write:
        ok = {
            201: ObjectResultSerializer,
            202: OpenApiResponse(PendingActionEnvelopeSerializer, description="Held for approval"),
        }
    elif operation.is_list:
        ok = {200: ListResultSerializer}
    else:
        ok = {200: ObjectResultSerializer}
    return extend_schema(
        operation_id=operation.name.replace(".", "_"),
        summary=operation.summary,
        description=f"Needs the scope `{operation.scope}`.",
        tags=[operation.service],
        parameters=PAGE_PARAMS if operation.pagination else None,
        request=request_serializer(operation),
        responses={**ok, **ERRORS},
    )(handle)


def operation_view(route: str, operations: list[Operation]) -> type[APIView]:
    attrs = {op.method.lower(): _handler(op) for op in operations}
    name = "".join(part.title() for part in operations[0].name.split(".")) + "View"
    return type(name, (BrokerAPIView,), attrs)


class MeView(BrokerAPIView):
    @extend_schema(
        operation_id="me",
        summary="The person this token acts for",
        description="Needs the scope `identity.profile.read`.",
        tags=["platform"],
        responses={200: MeSerializer, **ERRORS},
    )
    def get(self, request):
        return as_response(services.me(request=request))


class TokenView(BrokerAPIView):
    @extend_schema(
        operation_id="token_info",
        summary="What this token may do now",
        tags=["platform"],
        responses={200: TokenInfoSerializer, **ERRORS},
    )
    def get(self, request):
        return as_response(services.token_view(request=request))


class ActionView(BrokerAPIView):
    @extend_schema(
        operation_id="pending_action_status",
        summary="Status and outcome of one of this app's pending actions",
        tags=["platform"],
        responses={200: PendingActionEnvelopeSerializer, **ERRORS},
    )
    def get(self, request, action_id: int):
        return as_response(services.action_status(request=request, action_id=action_id))


class JobCheckView(BrokerAPIView):
    @extend_schema(
        operation_id="jobs_check",
        summary="May background job J run for grant G with these scopes now?",
        description="Client-credentials tokens only. Registers the job for periodic rechecks.",
        tags=["platform"],
        request=JobCheckRequestSerializer,
        responses={200: JobCheckResultSerializer, **ERRORS},
    )
    def post(self, request):
        # Authenticate before validating, so a stranger learns nothing about the body's shape.
        services.token_authenticate(request=request)
        serializer = JobCheckRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response(
            services.job_check(
                request=request, job_id=data["job"], grant_id=data["grant"], scopes=data["scopes"]
            )
        )


@extend_schema(exclude=True)
class NotFoundView(BrokerAPIView):
    """Anything else under /api/v1/: the API's own 404, in the one error shape (never HTML)."""

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs, self.request = args, kwargs, self.initialize_request(request)
        self.headers = self.default_response_headers
        response = self.handle_exception(exceptions.NotFound())
        self.response = self.finalize_response(self.request, response, *args, **kwargs)
        return self.response
