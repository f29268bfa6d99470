"""Media on S3-compatible storage (MEDIA_STORAGE=s3, django-storages) against a real S3 server on 127.0.0.1
(moto's): the upload goes to the bucket, and the task that makes the sizes reads the original from there,
with nothing on local disk."""

from __future__ import annotations

import io
import socket

import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from offers.images import image_upload
from offers.models import OfferFile
from tests.offers.factories import OfferFactory

BUCKET = "loyalty-media-test"


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_server, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client.create_bucket(Bucket=BUCKET)
    settings.MEDIA_ROOT = str(tmp_path / "local-media")  # must stay empty
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "location": "media",
                "file_overwrite": False,
                "querystring_auth": False,
                "default_acl": None,
            },
        },
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def png(width: int, height: int) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="PNG")
    return SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png")


def test_an_upload_lands_in_the_bucket_and_the_worker_makes_its_sizes_from_there(
    club, bucket, tmp_path, django_capture_on_commit_callbacks
):
    offer = OfferFactory(club=club)
    with django_capture_on_commit_callbacks(execute=True):  # the sizes task runs (eagerly) after the commit
        image_upload(upload=png(2000, 1000), offer=offer)

    files = list(OfferFile.objects.filter(offer=offer).order_by("position", "id"))
    assert [(f.size_type, f.width, f.height) for f in files] == [
        ("original", 2000, 1000),
        ("base", 1080, 540),
        ("thumbnail", 300, 150),
    ]
    keys = {item["Key"] for item in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"media/{f.file.name}" for f in files}
    for f in files:
        body = bucket.get_object(Bucket=BUCKET, Key=f"media/{f.file.name}")["Body"].read()
        with Image.open(io.BytesIO(body)) as image:
            assert image.size == (f.width, f.height)
    local = tmp_path / "local-media"
    assert not local.exists() or not any(local.rglob("*"))


def test_settings_build_the_s3_storage_from_the_environment():
    import subprocess
    import sys

    code = "import django; django.setup(); from django.conf import settings; print(settings.STORAGES['default'])"
    env = {
        **__import__("os").environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "MEDIA_STORAGE": "s3",
        "MEDIA_S3_BUCKET": "b1",
        "MEDIA_S3_ENDPOINT_URL": "http://minio:9000",
        "MEDIA_S3_PREFIX": "media",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "storages.backends.s3.S3Storage" in out.stdout, out.stderr
    assert "'bucket_name': 'b1'" in out.stdout and "'endpoint_url': 'http://minio:9000'" in out.stdout
    env["MEDIA_STORAGE"] = "ftp"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "MEDIA_STORAGE must be filesystem or s3, not 'ftp'" in out.stderr
