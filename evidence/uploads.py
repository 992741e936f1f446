"""Receiving evidence files: hash and measure while the bytes stream in.

Installed on the upload endpoints before the body is read, the handler writes each
chunk to a temporary file and feeds it to SHA-256 at the same time, so the whole
upload is never held in memory and the hash is of exactly the bytes received.
"""

import hashlib

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from rest_framework.exceptions import APIException

SNIFF_BYTES = 8192


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The upload is larger than the limit of {limit} bytes.")


def upload_limit() -> int:
    return settings.EVIDENCE_MAX_UPLOAD_BYTES


class HashingUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.sha256 = hashlib.sha256()
        self.received = 0
        self.head = b""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > upload_limit():
            self.file.close()
            raise PayloadTooLarge(upload_limit())
        self.sha256.update(raw_data)
        if len(self.head) < SNIFF_BYTES:
            self.head += raw_data[: SNIFF_BYTES - len(self.head)]
        try:
            return super().receive_data_chunk(raw_data, start)
        except OSError:
            # A full disk: delete the partial temporary file now rather than when
            # the request is garbage-collected (the API answers 507).
            self.file.close()
            raise

    def file_complete(self, file_size: int):
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self.sha256.hexdigest()  # type: ignore[union-attr]  # the temporary file handler returns its file
        uploaded.head = self.head  # type: ignore[union-attr]  # as above
        return uploaded


def install_hashing_upload_handler(request) -> None:
    """Call before anything reads the body; refuses at once a declared oversize body."""
    length = request.META.get("CONTENT_LENGTH") or ""
    declared = int(length) if length.isdigit() else 0
    # Multipart framing and the other form fields add a little to the file itself.
    if declared > upload_limit() + 1024 * 1024:
        raise PayloadTooLarge(upload_limit())
    if request.content_type != "multipart/form-data":
        # Only multipart carries files. Another body has nothing to hash and may have
        # been read already (the NUL check reads urlencoded forms), after which Django
        # refuses new handlers; the serializer then answers that no file was sent.
        return
    request.upload_handlers = [HashingUploadHandler(request)]


def hashed_upload(content: bytes, name: str):
    """An in-memory upload carrying what HashingUploadHandler would have computed;
    for callers that create evidence from bytes they already hold (seeding, tests)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(name, content)
    upload.sha256 = hashlib.sha256(content).hexdigest()  # type: ignore[attr-defined]  # the receipt evidence_add reads
    upload.head = content[:SNIFF_BYTES]  # type: ignore[attr-defined]  # as above
    return upload
