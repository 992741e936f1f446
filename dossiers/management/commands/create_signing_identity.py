"""Create the self-signed development identity that signs dossiers.

A production deployment puts a key and a certificate from a real CA at the same paths
instead; this one is only good for trying signing out and for tests.
"""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

COMMON_NAME = "Casebook development signing identity"
VALIDITY = timedelta(days=730)


class Command(BaseCommand):
    help = (
        "Create a self-signed development certificate and key for signing dossiers "
        "at DOSSIER_SIGNING_KEY_PATH and DOSSIER_SIGNING_CERT_PATH."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--force", action="store_true", help="Replace an existing identity."
        )
        group.add_argument(
            "--if-missing",
            action="store_true",
            help="Exit quietly when both files already exist.",
        )

    def handle(self, *args, force, if_missing, **options):
        key_path = Path(settings.DOSSIER_SIGNING_KEY_PATH)
        cert_path = Path(settings.DOSSIER_SIGNING_CERT_PATH)
        existing = [path for path in (key_path, cert_path) if path.exists()]
        if if_missing and len(existing) == 2:
            return
        if existing and not force:
            raise CommandError(
                f"{', '.join(map(str, existing))} already exists; "
                "use --force to replace the signing identity."
            )
        key, certificate = _self_signed_identity()
        _write(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            mode=0o600,
        )
        _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
        self.stdout.write(f"Key:         {key_path}")
        self.stdout.write(f"Certificate: {cert_path}")
        self.stdout.write(f"SHA-256 fingerprint: {fingerprint}")


def _self_signed_identity() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Casebook"),
        ]
    )
    now = datetime.now(UTC)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write next to ``path`` with ``mode`` from the start, then move into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)
