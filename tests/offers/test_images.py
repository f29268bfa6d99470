"""Offer and collection images: a real PNG is uploaded (service and admin), the Celery task makes the `base` and
`thumbnail` sizes with Pillow, and the member API lists all three sizes with their width and height."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from offers.images import image_sizes_make, image_upload
from offers.models import OfferFile
from offers.tasks import make_image_sizes
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PUBLIC_BASE_URL = "https://loyalty.example.com"
    settings.MEDIA_URL = "/media/"
    return tmp_path


def png(width: int, height: int, name: str = "photo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 30, 30, 255)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def sizes(**owner) -> list[tuple[str, int, int]]:
    return list(
        OfferFile.objects.filter(**owner).order_by("position", "id").values_list("size_type", "width", "height")
    )


def stored_dimensions(file: OfferFile) -> tuple[int, int]:
    with default_storage.open(file.file.name, "rb") as handle, Image.open(handle) as image:
        return image.size


def test_an_uploaded_png_gets_base_and_thumbnail_sizes(club, django_capture_on_commit_callbacks):
    offer = OfferFactory(club=club)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        original = image_upload(upload=png(2000, 1000), offer=offer)

    assert len(callbacks) == 1  # the task is queued after the commit
    assert sizes(offer=offer) == [("original", 2000, 1000), ("base", 1080, 540), ("thumbnail", 300, 150)]
    for file in OfferFile.objects.filter(offer=offer):
        assert stored_dimensions(file) == (file.width, file.height)
        assert file.file.name.startswith("offers/") and file.file.name.endswith(".png")
    assert set(OfferFile.objects.filter(source=original).values_list("kind", flat=True)) == {"offer_default"}


def test_the_member_api_lists_all_three_sizes(member_api, club, django_capture_on_commit_callbacks):
    offer = OfferFactory(club=club)
    with django_capture_on_commit_callbacks(execute=True):
        image_upload(upload=png(600, 1200), offer=offer)
    names = dict(OfferFile.objects.values_list("size_type", "file"))

    body = member_api.get(f"{BASE}/me/offers/{offer.id}").json()["offer"]

    expected = [
        {"url": f"https://loyalty.example.com/media/{names['original']}", "width": 600, "height": 1200},
        {"url": f"https://loyalty.example.com/media/{names['base']}", "width": 540, "height": 1080},
        {"url": f"https://loyalty.example.com/media/{names['thumbnail']}", "width": 150, "height": 300},
    ]
    assert body["files"] == [
        {**e, "kind": "offer_default", "size_type": size}
        for e, size in zip(expected, ("original", "base", "thumbnail"), strict=True)
    ]
    assert body["images"] == body["files"]


def test_small_images_are_never_enlarged(club, django_capture_on_commit_callbacks):
    offer = OfferFactory(club=club)

    with django_capture_on_commit_callbacks(execute=True):
        image_upload(upload=png(200, 100), offer=offer)

    assert sizes(offer=offer) == [("original", 200, 100), ("base", 200, 100), ("thumbnail", 200, 100)]


def test_making_the_sizes_again_replaces_them(club, django_capture_on_commit_callbacks):
    offer = OfferFactory(club=club)
    with django_capture_on_commit_callbacks(execute=True):
        original = image_upload(upload=png(1500, 1500), offer=offer)

    assert make_image_sizes(original.pk) == 2
    assert len(image_sizes_make(file_id=original.pk)) == 2

    assert sizes(offer=offer) == [("original", 1500, 1500), ("base", 1080, 1080), ("thumbnail", 300, 300)]


def test_a_new_upload_replaces_the_previous_one_and_keeps_url_files(club, django_capture_on_commit_callbacks):
    offer = OfferFactory(club=club)
    OfferFile.objects.create(offer=offer, url="https://cdn.example.com/x.jpg", width=1, height=1)
    with django_capture_on_commit_callbacks(execute=True):
        image_upload(upload=png(400, 400), offer=offer)
        image_upload(upload=png(800, 400), offer=offer)

    assert sizes(offer=offer) == [
        ("original", 1, 1),
        ("original", 800, 400),
        ("base", 800, 400),
        ("thumbnail", 300, 150),
    ]


def test_the_admin_uploads_an_offer_image(admin_client, club, django_capture_on_commit_callbacks):
    from tests.offers.test_admin_offers import form_data

    offer = OfferFactory(club=club, internal_name="Spring")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/offers/offer/{offer.pk}/change/", {**form_data(club), "image": png(3000, 1500)}
        )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert sizes(offer=offer) == [("original", 3000, 1500), ("base", 1080, 540), ("thumbnail", 300, 150)]


def test_the_admin_refuses_a_file_that_is_not_an_image(admin_client, club):
    offer = OfferFactory(club=club, internal_name="Spring")
    from tests.offers.test_admin_offers import form_data

    not_png = SimpleUploadedFile("evil.png", b"not an image at all", content_type="image/png")
    response = admin_client.post(f"/admin/offers/offer/{offer.pk}/change/", {**form_data(club), "image": not_png})

    assert response.status_code == 200
    assert "image" in response.context["adminform"].form.errors
    assert not OfferFile.objects.exists()


def test_collections_get_cover_sizes_too(admin_client, api, club, django_capture_on_commit_callbacks):
    collection = CollectionFactory(club=club, title="Shoes")
    url = f"/admin/offers/collection/{collection.pk}/change/"
    data = {"title": "Shoes", "description": "", "short_description": "", "offers_order": "", "image": png(1200, 600)}

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, data).status_code == 302

    assert sizes(collection=collection) == [("original", 1200, 600), ("base", 1080, 540), ("thumbnail", 300, 150)]
    files = api.get(f"/v3/infinity-mall/offers/collections/{collection.pk}").json()["collection"]["files"]
    assert [(f["kind"], f["size_type"], f["width"]) for f in files] == [
        ("collection_cover_default", "original", 1200),
        ("collection_cover_default", "base", 1080),
        ("collection_cover_default", "thumbnail", 300),
    ]


def test_a_clone_has_its_own_rows_for_the_same_images(api, club, django_capture_on_commit_callbacks):
    offer = OfferFactory(club=club)
    with django_capture_on_commit_callbacks(execute=True):
        image_upload(upload=png(2000, 1000), offer=offer)

    clone_id = api.post("/v3/infinity-mall/offers/clone", {"ids": [offer.id]}, format="json").json()["ids"][0]

    assert sizes(offer_id=clone_id) == sizes(offer=offer)
    clone_original = OfferFile.objects.get(offer_id=clone_id, size_type="original")
    assert set(OfferFile.objects.filter(offer_id=clone_id, source__isnull=False).values_list("source", flat=True)) == {
        clone_original.pk
    }
    assert set(OfferFile.objects.filter(offer_id=clone_id).values_list("file", flat=True)) == set(
        OfferFile.objects.filter(offer=offer).values_list("file", flat=True)
    )
