"""PAdES signature on a rendered dossier, with the identity from settings.

The signature is appended as an incremental update, so the bytes WeasyPrint wrote, and
with them the PDF/A-3 structure and the embedded files, stay exactly as they were.
"""

from pathlib import Path

from django.conf import settings
from pyhanko.sign import fields, signers, timestamps

from dossiers.attachments import incremental_update

FIELD_NAME = "Signature1"
REASON = "Casebook dossier"


class SigningIdentityMissing(RuntimeError):
    """The signing key or certificate is not where the settings say."""


def sign_pdf(source: Path, output: Path) -> None:
    """Write ``source`` plus a PAdES signature (and a timestamp if a TSA is set)."""
    key_path = Path(settings.DOSSIER_SIGNING_KEY_PATH)
    cert_path = Path(settings.DOSSIER_SIGNING_CERT_PATH)
    missing = [str(path) for path in (key_path, cert_path) if not path.is_file()]
    if missing:
        raise SigningIdentityMissing(
            f"Dossier signing identity not found ({', '.join(missing)}); "
            "run manage.py create_signing_identity"
        )
    signer = signers.SimpleSigner.load(str(key_path), str(cert_path))
    if signer is None:
        raise SigningIdentityMissing(
            f"Could not load the signing key {key_path} or certificate {cert_path}"
        )
    tsa_url = getattr(settings, "DOSSIER_TSA_URL", "")
    timestamper = timestamps.HTTPTimeStamper(tsa_url) if tsa_url else None
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            reason=REASON,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
        ),
        signer=signer,
        timestamper=timestamper,
        new_field_spec=fields.SigFieldSpec(sig_field_name=FIELD_NAME),
    )
    output = Path(output)
    partial = output.with_name(output.name + ".partial")
    with Path(source).open("rb") as inf, partial.open("wb") as outf:
        writer = incremental_update(inf)
        pdf_signer.sign_pdf(writer, output=outf)
    partial.replace(output)
