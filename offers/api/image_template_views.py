"""Image templates of the published Offers Admin API: list, get, preview, create, update, destroy."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from kit.api.params import parse_body, parse_query
from kit.errors import InvalidParameters
from kit.messages import error_leaf
from kit.pagination import paginate
from loyalty.api.base import LoyaltyAPIView
from offers.api import image_template_serializers as s
from offers.services import image_templates as service

_P = "Offers:Api:ImageTemplates:"


class ImageTemplatesAPIView(LoyaltyAPIView):
    feature = "offers"
    schema_tags = ["Offers (image templates)"]


def _payload(request, *, partial: bool) -> dict:
    data = parse_body(s.ImageTemplateWrappedInputSerializer, request.data, partial=partial)["image_template"]
    attrs = dict(data)
    if "rectangles" in attrs:
        attrs["rectangles"] = [dict(r) for r in attrs["rectangles"]]
    return attrs


class ImageTemplateListView(ImageTemplatesAPIView):
    permit = {"GET": f"{_P}List", "POST": f"{_P}Create"}
    creates = True

    @extend_schema(
        parameters=[s.ImageTemplateListQuerySerializer],
        responses=s.ImageTemplateListResponseSerializer,
        summary="List image templates",
    )
    def get(self, request, lc):
        q = parse_query(s.ImageTemplateListQuerySerializer, request.query_params)
        templates, info = paginate(
            service.image_templates_list(club=request.club, default=q["default"]),
            page_no=q["page_no"],
            per_page=q["per_page"],
        )
        return Response({"image_templates": [s.image_template_to_json(t) for t in templates], "pagination_info": info})

    @extend_schema(
        request=s.ImageTemplateWrappedInputSerializer,
        responses={201: s.ImageTemplateResponseSerializer},
        summary="Create an image template",
    )
    def post(self, request, lc):
        template = service.image_template_save(club=request.club, attrs=_payload(request, partial=False))
        return Response({"image_template": s.image_template_to_json(template)}, status=201)


class ImageTemplateDetailView(ImageTemplatesAPIView):
    permit = {"GET": f"{_P}Get", "PUT": f"{_P}Update", "DELETE": f"{_P}Destroy"}

    @extend_schema(responses=s.ImageTemplateResponseSerializer, summary="Show an image template")
    def get(self, request, lc, image_template_id):
        template = service.image_template_get(club=request.club, template_id=image_template_id)
        return Response({"image_template": s.image_template_to_json(template)})

    @extend_schema(
        request=s.ImageTemplateWrappedInputSerializer,
        responses=s.ImageTemplateResponseSerializer,
        summary="Update an image template (partial)",
    )
    def put(self, request, lc, image_template_id):
        template = service.image_template_get(club=request.club, template_id=image_template_id)
        template = service.image_template_save(
            club=request.club, template=template, attrs=_payload(request, partial=True)
        )
        return Response({"image_template": s.image_template_to_json(template)})

    @extend_schema(responses=s.ImageTemplateResponseSerializer, summary="Delete an image template")
    def delete(self, request, lc, image_template_id):
        template = service.image_template_get(club=request.club, template_id=image_template_id)
        body = s.image_template_to_json(template)
        service.image_template_delete(template=template)
        return Response({"image_template": body})


class ImageTemplatePreviewView(ImageTemplatesAPIView):
    """The docs send the template as the body of a GET (curl's --data-raw) and call it POST parameters:
    both methods draw it."""

    permit = f"{_P}Preview"

    def _preview(self, request):
        model = parse_body(s.ImageTemplatePreviewInputSerializer, request.data)["image_template"]
        try:
            data = service.image_template_render(s.image_template_clean(model))
        except service.BackgroundUnavailable:
            url = model.get("background_url")
            raise InvalidParameters(
                {"image_template": {"background_url": [error_leaf("invalid", value=url, format="reachable image URL")]}}
            ) from None
        return HttpResponse(data, content_type="image/png")

    @extend_schema(
        request=s.ImageTemplatePreviewInputSerializer,
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The drawn image")},
        summary="Preview an image template (PNG)",
    )
    def get(self, request, lc):
        return self._preview(request)

    @extend_schema(
        request=s.ImageTemplatePreviewInputSerializer,
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The drawn image")},
        summary="Preview an image template (PNG)",
    )
    def post(self, request, lc):
        return self._preview(request)


# Club-scoped, mounted under /v3/<lc>/ by offers.api.urls (the literal `preview` before the id route).
v3_patterns: list = [
    path("offers/image_templates", ImageTemplateListView.as_view(), name="offers-image-templates"),
    path("offers/image_templates/preview", ImageTemplatePreviewView.as_view(), name="offers-image-template-preview"),
    path(
        "offers/image_templates/<int:image_template_id>",
        ImageTemplateDetailView.as_view(),
        name="offers-image-template",
    ),
]
