"""A 1 GiB upload streams through: hashed and stored without ever being held in
memory. Sent over real HTTP to the live server running in this process, so the
process's peak memory shows whether the body was buffered."""

import hashlib
import http.client
import json
import resource
from urllib.parse import urlparse

from evidence.models import Evidence
from tests.factories import make_incident, make_token

GIB = 1024**3
BLOCK = bytes(range(256)) * 4096  # 1 MiB, not all zeros so compression cannot cheat


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_one_gib_upload_streams_with_flat_memory(
    live_server, settings, tmp_path, django_user_model
):
    # given
    settings.MEDIA_ROOT = tmp_path / "media"
    analyst = django_user_model.objects.create_user(
        "streamer", password="x" * 12, role="analyst"
    )
    incident = make_incident(by=analyst)
    token = make_token(analyst)
    boundary = "casebook-large-upload"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nLarge export\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    expected = hashlib.sha256()
    for _ in range(GIB // len(BLOCK)):
        expected.update(BLOCK)

    def body():
        yield head
        for _ in range(GIB // len(BLOCK)):
            yield BLOCK
        yield tail

    before = peak_rss_bytes()
    # when
    url = urlparse(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    connection.request(
        "POST",
        f"/api/v1/incidents/{incident.reference}/evidence/",
        body=body(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + GIB + len(tail)),
        },
    )
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    growth = peak_rss_bytes() - before

    # then
    assert response.status == 201, payload
    assert payload["size"] == GIB
    assert payload["sha256"] == expected.hexdigest()
    assert Evidence.objects.get().sha256 == expected.hexdigest()
    assert growth < 200 * 1024**2, f"peak memory grew by {growth / 1024**2:.0f} MiB"
