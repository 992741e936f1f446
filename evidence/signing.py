"""The server's Ed25519 custody key: created on first use, then only read.

The private key never leaves the file at CUSTODY_SIGNING_KEY_PATH (mode 0600); bundles
carry the public key so an outside expert can check every checkpoint signature.
"""

import base64
import contextlib
import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings


def checkpoint_message(tree_size: int, root_hash_hex: str, signed_at: str) -> bytes:
    return f"casebook-custody-checkpoint/1\n{tree_size}\n{root_hash_hex}\n{signed_at}\n".encode()


def _create_key(path: Path) -> None:
    """Write a new key beside `path` and publish it whole, unless one exists already.

    The key is written and flushed to a private temporary file in the same folder,
    then hard-linked to `path`: the link appears with the whole key or not at all, and
    fails if another process published first, so every process ends up reading the
    same, complete key (the first writer's). Never `path` opened half-written.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # mkstemp creates the file with mode 0600: the key is never readable by others.
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # FileExistsError: another process published its key first; all use that one.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


@lru_cache(maxsize=4)
def _load_private_key(path: str) -> Ed25519PrivateKey:
    key_path = Path(path)
    if not key_path.exists():
        _create_key(key_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} does not hold an Ed25519 private key")
    return key


def private_key() -> Ed25519PrivateKey:
    return _load_private_key(str(settings.CUSTODY_SIGNING_KEY_PATH))


def public_key() -> Ed25519PublicKey:
    return private_key().public_key()


def public_key_pem() -> bytes:
    return public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PublicKey | None = None) -> str:
    raw = (key or public_key()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(message: bytes) -> str:
    return base64.b64encode(private_key().sign(message)).decode("ascii")


def signature_is_valid(message: bytes, signature_b64: str) -> bool:
    try:
        public_key().verify(base64.b64decode(signature_b64, validate=True), message)
    except Exception:  # InvalidSignature, or a signature that is not even base64
        return False
    return True
