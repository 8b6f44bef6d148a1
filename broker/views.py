"""Thin HTTP edges: one generic view class per route, built from the operation declarations."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils import json as drf_json
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


def _schema_only(operation: Operation):
    # drf-spectacular reads the route's APIView class for its methods and their documentation;
    # requests never reach it (operation_endpoint below serves them).
    def handle(self, request, **kwargs):  # pragma: no cover - never dispatched
        raise exceptions.MethodNotAllowed()

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
    """The route's APIView class, for the OpenAPI schema only (see :func:`operation_endpoint`)."""
    attrs = {op.method.lower(): _schema_only(op) for op in operations}
    name = "".join(part.title() for part in operations[0].name.split(".")) + "View"
    return type(name, (BrokerAPIView,), attrs)


# --- the operations' own view: plain Django -------------------------------------------------------
#
# A brokered call is the platform's hot path, and DRF's dispatch gave it nothing it uses (no
# authentication, permission or throttle classes; one renderer, one parser) for about a tenth of
# its CPU (its request wrapper, content negotiation, the response's render pass:
# docs/performance.md). So an operation's route is a plain Django view. What DRF did that a
# caller can see is kept: the body is read as DRF's JSONParser read it, the answer is rendered
# by the same JSONRenderer (the same bytes), every error is broker.exceptions' one shape, and the
# route's APIView class hangs on the view as ``cls``, as DRF's ``as_view()`` does, so the schema
# documents the route as before.

_RENDERER = JSONRenderer()
_METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")  # DRF's Allow order


def _json_response(data, *, status: int = 200, headers=None) -> HttpResponse:
    response = HttpResponse(_RENDERER.render(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _json_body(request):
    """The write's body as DRF's JSONParser gave it: nothing (or no Content-Type) reads as an
    empty object; anything but JSON is refused."""
    if not request.body or not request.META.get("CONTENT_TYPE"):
        return {}
    if request.content_type != "application/json":
        raise exceptions.InvalidRequest("The request body must be JSON (application/json).")
    try:
        charset = request.content_params.get("charset") or "utf-8"
        # DRF's own strict loads (NaN and Infinity refused), as its JSONParser reads a body.
        return drf_json.loads(request.body.decode(charset))
    except (LookupError, ValueError):  # an unknown charset, bad bytes, bad JSON
        raise exceptions.InvalidRequest("The request body is not valid JSON.") from None


def _answer(request, operation: Operation, kwargs: dict) -> HttpResponse:
    result = services.broker_call(
        request=request,
        operation=operation,
        scope=operation.scope,
        params={k: str(v) for k, v in kwargs.items()},
        query=request.GET,
        body=_json_body(request) if operation.is_write else None,
    )
    if result.content is not None:
        return as_response(result)
    return _json_response(result.data, status=result.status, headers=result.headers)


def _error(request, exc: exceptions.BrokerError) -> HttpResponse:
    # The error as the API's DRF views answer it (status, body, challenge headers), rendered here.
    drf = exceptions.exception_handler(exc, {"request": request})
    headers = {k: v for k, v in drf.items() if k.lower() != "content-type"}
    return _json_response(drf.data, status=drf.status_code, headers=headers)


def operation_endpoint(route: str, operations: list[Operation]):
    """The view serving every method declared on ``route``."""
    by_method = {op.method: op for op in operations}
    if "GET" in by_method:
        by_method.setdefault("HEAD", by_method["GET"])  # as Django's View: HEAD is GET
    allow = ", ".join(m for m in _METHOD_ORDER if m in by_method or m == "OPTIONS")

    @csrf_exempt
    def view(request, **kwargs):
        if request.method == "OPTIONS":
            return HttpResponse(status=204, headers={"Allow": allow})
        operation = by_method.get(request.method)
        try:
            if operation is None:
                raise exceptions.MethodNotAllowed(headers={"Allow": allow})
            return _answer(request, operation, kwargs)
        except exceptions.BrokerError as exc:
            return _error(request, exc)

    view.cls = operation_view(route, operations)
    view.initkwargs = {}
    return view


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
