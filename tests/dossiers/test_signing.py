"""PAdES signing of dossiers and the development signing identity."""

import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pikepdf
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.core.management import call_command
from django.core.management.base import CommandError
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from dossiers.rendering import render_dossier
from dossiers.signing import SigningIdentityMissing, sign_pdf
from tests.dossiers.snapshots import make_snapshot


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("unsigned") / "dossier.pdf"
    snapshot = make_snapshot(sections=["summary", "exhibits", "certification"])
    render_dossier(snapshot, path, lambda *_: None)
    return path


@pytest.fixture
def identity(settings, tmp_path):
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "keys" / "dossier-signing.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "keys" / "dossier-signing.crt"
    settings.DOSSIER_TSA_URL = ""
    call_command("create_signing_identity", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return settings


def _validate(path: Path, cert_path: Path):
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(cert_path))])
    with path.open("rb") as handle:
        reader = PdfFileReader(handle)
        [signature] = reader.embedded_signatures
        return signature, validate_pdf_signature(signature, context)


def test_command_writes_a_private_key_and_a_signing_certificate(settings, tmp_path):
    # given
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "k" / "signing.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "k" / "signing.crt"
    out = []

    # when
    call_command("create_signing_identity", stdout=_Collect(out))

    # then
    key_mode = stat.S_IMODE(settings.DOSSIER_SIGNING_KEY_PATH.stat().st_mode)
    assert key_mode == 0o600
    cert = x509.load_pem_x509_certificate(
        settings.DOSSIER_SIGNING_CERT_PATH.read_bytes()
    )
    common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == "Casebook development signing identity"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert not usage.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=729) < lifetime < timedelta(days=732)
    printed = "".join(out)
    assert str(settings.DOSSIER_SIGNING_KEY_PATH) in printed
    assert str(settings.DOSSIER_SIGNING_CERT_PATH) in printed
    fingerprint = cert.fingerprint(cert.signature_hash_algorithm).hex(":").upper()
    assert fingerprint in printed


def test_command_refuses_to_overwrite_without_force(identity):
    cert_before = identity.DOSSIER_SIGNING_CERT_PATH.read_bytes()

    with pytest.raises(CommandError, match="--force"):
        call_command("create_signing_identity")
    assert identity.DOSSIER_SIGNING_CERT_PATH.read_bytes() == cert_before

    call_command("create_signing_identity", "--force", stdout=_Collect([]))
    assert identity.DOSSIER_SIGNING_CERT_PATH.read_bytes() != cert_before


def test_if_missing_is_quiet_when_the_identity_exists(identity):
    cert_before = identity.DOSSIER_SIGNING_CERT_PATH.read_bytes()
    out = []
    call_command("create_signing_identity", "--if-missing", stdout=_Collect(out))
    assert out == [] or "".join(out).strip() == ""
    assert identity.DOSSIER_SIGNING_CERT_PATH.read_bytes() == cert_before


def test_if_missing_creates_an_identity_when_there_is_none(settings, tmp_path):
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "signing.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "signing.crt"
    call_command("create_signing_identity", "--if-missing", stdout=_Collect([]))
    assert settings.DOSSIER_SIGNING_KEY_PATH.exists()
    assert settings.DOSSIER_SIGNING_CERT_PATH.exists()


def test_if_missing_never_replaces_half_an_identity(identity):
    # a lone key may belong to a certificate that was issued elsewhere: keep it
    identity.DOSSIER_SIGNING_CERT_PATH.unlink()
    key_before = identity.DOSSIER_SIGNING_KEY_PATH.read_bytes()
    with pytest.raises(CommandError, match="--force"):
        call_command("create_signing_identity", "--if-missing")
    assert identity.DOSSIER_SIGNING_KEY_PATH.read_bytes() == key_before


def test_signed_dossier_validates_against_the_identity(identity, unsigned, tmp_path):
    # when
    signed = tmp_path / "signed.pdf"
    sign_pdf(unsigned, signed)

    # then
    signature, status = _validate(signed, identity.DOSSIER_SIGNING_CERT_PATH)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert signature.field_name == "Signature1"
    assert signature.sig_object["/Reason"] == "Casebook dossier"
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert status.coverage.name == "ENTIRE_FILE"


def test_signing_is_an_incremental_update_that_keeps_pdfa(identity, unsigned, tmp_path):
    signed = tmp_path / "signed.pdf"
    sign_pdf(unsigned, signed)

    original = unsigned.read_bytes()
    assert signed.read_bytes().startswith(original)
    check = subprocess.run(["qpdf", "--check", str(signed)], capture_output=True)
    assert check.returncode == 0, check.stdout
    with pikepdf.open(signed) as pdf:
        meta = pdf.open_metadata()
        assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("3", "B")
        assert pdf.docinfo["/Producer"] == meta.get("pdf:Producer")
        assert pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
        [field] = pdf.Root.AcroForm.Fields
        assert field.FT == "/Sig"
        assert int(field.F) & 4  # printable, as PDF/A requires of annotations


def test_a_flipped_byte_breaks_the_signature(identity, unsigned, tmp_path):
    # given a signed dossier with one byte changed inside the signed range
    signed = tmp_path / "signed.pdf"
    sign_pdf(unsigned, signed)
    data = bytearray(signed.read_bytes())
    offset = data.index(b"Case dossier")
    data[offset] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))

    # when
    _, status = _validate(tampered, identity.DOSSIER_SIGNING_CERT_PATH)

    # then
    assert not status.intact
    assert not status.bottom_line


def test_signing_without_an_identity_says_how_to_make_one(settings, unsigned, tmp_path):
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "none.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "none.crt"

    with pytest.raises(SigningIdentityMissing, match="create_signing_identity"):
        sign_pdf(unsigned, tmp_path / "signed.pdf")
    assert not (tmp_path / "signed.pdf").exists()


class _Collect:
    def __init__(self, sink: list):
        self.sink = sink

    def write(self, text):
        self.sink.append(text)

    def flush(self):
        pass
