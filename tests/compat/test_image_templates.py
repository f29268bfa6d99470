"""Offer image templates as the published docs (28_offers_admin_api) describe them, replayed with the docs'
own example requests: lower-case headers, the raw JSON bodies of the curl examples, and the scalars a PHP
client sends as strings."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from rest_framework.test import APIClient

from offers.models import ImageTemplate, Offer, OfferFile
from tests.concurrency import outcomes, run_in_parallel

BASE = "/v3/infinity-mall/offers/image_templates"

# The bodies of the docs' curl examples, verbatim (the rectangle of Create and Update, the Preview template).
CREATE_BODY = """{
	"image_template": {
		"name": "My Group 1",
        "width": 1000,
        "height": 1000,
        "rectangles": [
            {
                "number": 1,
                "name": "Title",
                "offset_top": 100,
                "offset_left": 150,
                "width": 300,
                "height": 200,
                "padding": 5,
                "font_size": 40,
                "font_family": "'Playfair Display', serif",
                "font_url": "https://fonts.googleapis.com/css?family=Raleway:400,700&display=swap",
                "color": "#FFFFFF",
                "text_align": "center",
                "content": "Oh my {{name}}!"
            }
        ]
	}
}"""

UPDATE_BODY = """{
	"image_template": {
		"name": "My Group 1",
        "rectangles": [
            {
                "number": 1,
                "name": "Title",
                "offset_top": 100,
                "offset_left": 150,
                "width": 300,
                "height": 200,
                "padding": 5,
                "font_size": 40,
                "font_family": "'Playfair Display', serif",
                "font_url": "https://fonts.googleapis.com/css?family=Raleway:400,700&display=swap",
                "color": "#FFFFFF",
                "text_align": "center",
                "content": "Oh my {{name}}!"
            }
        ]
	}
}"""

PREVIEW_RECTANGLE = {
    "number": 1,
    "name": "Title",
    "offset_top": 510,
    "offset_left": 0,
    "width": 400,
    "height": 200,
    "padding": 5,
    "font_size": 30,
    "font_family": "'Playfair Display', serif",
    "font_url": "https://fonts.googleapis.com/css?family=Raleway:400,700&display=swap",
    "font_weight": "bold",
    "font_style": "italic",
    "color": "#eb4034",
    "text_align": "center",
    "text_decoration": "underline",
    "content": "WOW {{name}}!",
}

RECTANGLE_OUT = {
    "number": 1,
    "name": "Title",
    "offset_top": 100,
    "offset_left": 150,
    "width": 300,
    "height": 200,
    "padding": 5,
    "font_size": 40,
    "font_family": "'Playfair Display', serif",
    "font_url": "https://fonts.googleapis.com/css?family=Raleway:400,700&display=swap",
    "color": "#FFFFFF",
    "text_align": "center",
    "text_decoration": "none",
    "font_style": "normal",
    "font_weight": "normal",
    "content": "Oh my {{name}}!",
}


def send(secret: str, method: str, path: str, raw: str | None = None):
    """One request as the docs' curl examples make it: their headers, spelled as there (lower case), and
    the raw JSON body."""
    headers = {"x-client-authorization": secret, "x-product-name": "default", "x-user-agent": "cURL Manual Testing"}
    if raw is None:
        return getattr(APIClient(), method)(path, headers=headers)
    headers["content-type"] = "application/json"
    # generic(): curl sends the docs' preview body with a GET, which the test client's get() cannot.
    return APIClient().generic(method.upper(), path, data=raw, content_type="application/json", headers=headers)


@pytest.fixture
def docs(full_token) -> str:
    return full_token


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.MEDIA_URL = "/media/"
    return tmp_path


def png_size(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG"
        return image.size


def test_create_replays_the_docs_example_and_answers_the_record(docs, club):
    response = send(docs, "post", BASE, CREATE_BODY)

    assert response.status_code == 201, response.content
    record = response.json()["image_template"]
    assert record == {
        "id": record["id"],
        "name": "My Group 1",
        "width": 1000,
        "height": 1000,
        "background_url": None,
        "default": False,
        "rectangles": [RECTANGLE_OUT],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
    }
    assert record["created_at"].endswith("Z")
    assert ImageTemplate.objects.get(pk=record["id"]).club == club


def test_list_get_update_destroy_as_documented(docs, club):
    created = send(docs, "post", BASE, CREATE_BODY).json()["image_template"]

    listed = send(docs, "get", BASE)
    assert listed.status_code == 200
    assert listed.json()["image_templates"] == [created]
    assert listed.json()["pagination_info"]["per_page"] == 1000
    assert listed.json()["pagination_info"]["total_count"] == 1

    shown = send(docs, "get", f"{BASE}/{created['id']}")
    assert shown.status_code == 200
    assert shown.json() == {"image_template": created}

    # The docs' update example leaves the size out: the update is partial.
    updated = send(docs, "put", f"{BASE}/{created['id']}", UPDATE_BODY.replace("My Group 1", "Renamed"))
    assert updated.status_code == 200, updated.content
    assert updated.json()["image_template"]["name"] == "Renamed"
    assert updated.json()["image_template"]["width"] == 1000

    deleted = send(docs, "delete", f"{BASE}/{created['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["image_template"]["id"] == created["id"]
    assert deleted.json()["image_template"]["name"] == "Renamed"
    assert not ImageTemplate.objects.exists()
    missing = send(docs, "get", f"{BASE}/{created['id']}")
    assert missing.status_code == 404
    assert missing.json() == {"error": f"ImageTemplate#{created['id']} not found"}


def test_php_style_string_scalars_are_accepted(docs):
    body = json.loads(CREATE_BODY)
    template = body["image_template"]
    template.update(width="600", height="800", default="true")
    template["rectangles"][0].update({k: str(v) for k, v in template["rectangles"][0].items() if k != "content"})

    response = send(docs, "post", BASE, json.dumps(body))

    assert response.status_code == 201, response.content
    record = response.json()["image_template"]
    assert (record["width"], record["height"], record["default"]) == (600, 800, True)
    assert record["rectangles"][0]["font_size"] == 40


def test_only_one_default_per_club_and_the_default_filter(docs):
    first = json.loads(CREATE_BODY)
    first["image_template"]["default"] = True
    a = send(docs, "post", BASE, json.dumps(first)).json()["image_template"]
    b = send(docs, "post", BASE, json.dumps(first)).json()["image_template"]

    defaults = send(docs, "get", f"{BASE}?default=true").json()["image_templates"]
    assert [t["id"] for t in defaults] == [b["id"]]
    assert send(docs, "get", f"{BASE}/{a['id']}").json()["image_template"]["default"] is False
    assert [t["id"] for t in send(docs, "get", f"{BASE}?default=false").json()["image_templates"]] == [a["id"]]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"width": 0}, ["width"]),
        ({"width": 2001}, ["width"]),
        ({"width": "wide"}, ["width"]),
        ({"name": None}, ["name"]),
        ({"rectangles": "no"}, ["rectangles"]),
        ({"rectangles": [{}] * 5}, ["rectangles"]),
    ],
)
def test_bad_payloads_get_a_422_tree_and_change_nothing(docs, change, path):
    body = json.loads(CREATE_BODY)
    body["image_template"].update(change)

    response = send(docs, "post", BASE, json.dumps(body))

    assert response.status_code == 422, response.content
    tree = response.json()["details"]["image_template"]
    for key in path:
        tree = tree[key]
    assert tree
    assert not ImageTemplate.objects.exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [("color", "red"), ("text_align", "justify"), ("font_url", "javascript:alert(1)"), ("font_size", True)],
)
def test_bad_rectangles_are_refused(docs, key, value):
    body = json.loads(CREATE_BODY)
    body["image_template"]["rectangles"][0][key] = value

    response = send(docs, "post", BASE, json.dumps(body))

    assert response.status_code == 422
    assert key in response.json()["details"]["image_template"]["rectangles"]["0"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_preview_draws_the_docs_template_as_png(docs, method):
    body = {"image_template": {"width": 400, "height": 600, "rectangles": [PREVIEW_RECTANGLE]}}

    response = send(docs, method, f"{BASE}/preview", json.dumps(body))

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    assert png_size(response.content) == (400, 600)
    with Image.open(io.BytesIO(response.content)) as image:
        # The rectangle (from y=510) carries red text; above it the canvas stays white.
        colors = {image.convert("RGB").getpixel((x, y)) for x in range(0, 400, 2) for y in range(515, 580, 2)}
        assert any(r > 200 and g < 120 for r, g, _ in colors)
        assert image.convert("RGB").getpixel((200, 100)) == (255, 255, 255)


def test_preview_with_an_unreachable_background_is_a_422(docs, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    body = {
        "image_template": {"width": 10, "height": 10, "background_url": "http://127.0.0.1:9/x.png", "rectangles": []}
    }

    response = send(docs, "post", f"{BASE}/preview", json.dumps(body))

    assert response.status_code == 422
    assert response.json()["details"]["image_template"]["background_url"][0]["value"] == "http://127.0.0.1:9/x.png"


@pytest.fixture
def background_server():
    """A real HTTP server handing out a blue PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50), (0, 0, 255)).save(buffer, format="PNG")
    data = buffer.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bg.png"
    server.shutdown()
    server.server_close()


def test_preview_covers_the_canvas_with_the_background(docs, settings, background_server):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    body = {"image_template": {"width": 120, "height": 80, "background_url": background_server, "rectangles": []}}

    response = send(docs, "post", f"{BASE}/preview", json.dumps(body))

    assert response.status_code == 200, response.content
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (120, 80)
        assert image.convert("RGB").getpixel((60, 40)) == (0, 0, 255)


def test_offer_image_template_is_stored_shown_and_drawn_into_the_offers_files(
    docs, api, club, django_capture_on_commit_callbacks
):
    template = {"width": "300", "height": "200", "rectangles": [dict(RECTANGLE_OUT, offset_top=0, offset_left=0)]}
    item = {"name": "Buy two shoes", "stores": ["M&H"], "image_template": template}

    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/v3/infinity-mall/offers", {"offers": [item]}, format="json")
    assert created.status_code == 200, created.content
    offer_id = created.json()["ids"][0]

    shown = api.get(f"/v3/infinity-mall/offers/{offer_id}").json()["offer"]
    assert shown["image_template"] == {
        "width": 300,
        "height": 200,
        "background_url": None,
        "rectangles": [dict(RECTANGLE_OUT, offset_top=0, offset_left=0)],
    }
    files = OfferFile.objects.filter(offer_id=offer_id).order_by("id")
    assert [(f.size_type, f.width, f.height) for f in files] == [
        ("original", 300, 200),
        ("base", 300, 200),
        ("thumbnail", 300, 200),
    ]
    with default_storage.open(files[0].file.name, "rb") as handle:
        assert png_size(handle.read()) == (300, 200)
    assert [f["size_type"] for f in shown["files"]] == ["original", "base", "thumbnail"]


def test_offer_merge_fields_are_filled_from_the_offer(club):
    from offers.services.image_templates import offer_merge_fields
    from tests.offers.factories import OfferFactory

    offer = OfferFactory(club=club, name={"en": "Shoes"}, description="Two for one")
    offer.store_rows.create(value="M&H")
    offer.store_rows.create(value="Zara")

    assert offer_merge_fields(offer) == {
        "name": "Shoes",
        "description": "Two for one",
        "collection": "",
        "stores": "M&H, Zara",
    }


def test_offer_without_image_template_has_no_key_and_no_drawing(api, club, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        offer_id = api.post("/v3/infinity-mall/offers", {"offers": [{"name": "x"}]}, format="json").json()["ids"][0]

    assert "image_template" not in api.get(f"/v3/infinity-mall/offers/{offer_id}").json()["offer"]
    assert not OfferFile.objects.filter(offer_id=offer_id).exists()


def test_a_bad_offer_image_template_is_a_per_item_error(api):
    item = {"name": "x", "image_template": {"rectangles": [{"name": "Title"}]}}

    response = api.post("/v3/infinity-mall/offers", {"offers": [item]}, format="json")

    assert response.status_code == 200
    assert response.json()["success"] is False
    assert any(key.startswith("image_template.rectangles") for key in response.json()["errors"]["0"])
    assert not Offer.objects.exists()


def test_image_templates_of_another_club_are_not_found(docs, other_club):
    foreign = ImageTemplate.objects.create(club=other_club, name="x", width=1, height=1)

    assert send(docs, "get", f"{BASE}/{foreign.pk}").status_code == 404
    assert send(docs, "delete", f"{BASE}/{foreign.pk}").status_code == 404
    assert ImageTemplate.objects.filter(pk=foreign.pk).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_concurrent_defaults_leave_exactly_one(club, issue_token):
    secret = issue_token(policies=["FullAccess"], clubs=[club])
    body = json.loads(CREATE_BODY)
    body["image_template"]["default"] = True
    raw = json.dumps(body)

    responses = run_in_parallel([lambda: send(secret, "post", BASE, raw) for _ in range(4)])

    assert outcomes(responses) == {(201, "ok"): 4}
    assert ImageTemplate.objects.filter(club=club, default=True).count() == 1


def test_a_drawing_whose_template_changed_meanwhile_is_not_stored(club, monkeypatch):
    from offers.services import image_templates
    from tests.offers.factories import OfferFactory

    first = {"width": 30, "height": 20, "background_url": None, "rectangles": []}
    offer = OfferFactory(club=club, image_template=first)
    draw = image_templates.image_template_render

    def draw_while_an_update_lands(model, **kwargs):
        Offer.objects.filter(pk=offer.pk).update(image_template={**first, "width": 40})
        return draw(model, **kwargs)

    monkeypatch.setattr(image_templates, "image_template_render", draw_while_an_update_lands)

    assert image_templates.offer_image_render(offer_id=offer.pk) is False
    assert not OfferFile.objects.filter(offer=offer).exists()
    monkeypatch.setattr(image_templates, "image_template_render", draw)
    assert image_templates.offer_image_render(offer_id=offer.pk) is True
    assert list(OfferFile.objects.filter(offer=offer).values_list("width", flat=True)) == [40]
