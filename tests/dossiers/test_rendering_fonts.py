"""Text the Latin fonts lack (Chinese, Japanese, Korean) prints with real glyphs from
the bundled fallback font, and the dossier stays PDF/A with every font embedded."""

import logging
import re
import subprocess

import pikepdf
import pytest

from dossiers.rendering import ASSETS_DIR, render_dossier
from tests.dossiers.snapshots import make_snapshot

TITLE = "模型提取事件：蒸馏攻击调查"
NOTE = "日本語のメモ：アカウント群が推論過程を収集。한국어 메모도 있습니다。"


@pytest.fixture(scope="module")
def cjk_dossier(tmp_path_factory):
    snapshot = make_snapshot(sections=["summary", "notes"])
    snapshot["incident"]["title"] = f"{TITLE} (casebook-llm-7b)"
    snapshot["notes"].append(
        {"author": "alice", "created_at": "2026-01-10T09:00:00Z", "body": NOTE}
    )
    path = tmp_path_factory.mktemp("cjk") / "dossier.pdf"
    warnings = _Collect()
    logging.getLogger("weasyprint").addHandler(warnings)
    try:
        render_dossier(snapshot, path, lambda *_: None)
    finally:
        logging.getLogger("weasyprint").removeHandler(warnings)
    return {"path": path, "warnings": warnings.messages}


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_the_fallback_font_and_its_licence_are_bundled():
    fonts = ASSETS_DIR / "fonts"
    assert (fonts / "DroidSansFallback.ttf").stat().st_size > 1_000_000
    assert "Apache License" in (fonts / "LICENSE-DroidSansFallback").read_text()


def test_no_character_is_left_without_a_glyph(cjk_dossier):
    assert not [m for m in cjk_dossier["warnings"] if "notdef" in m]


def test_cjk_text_is_printed_with_the_embedded_fallback_font(cjk_dossier):
    # pdffonts: name type encoding emb sub uni object-id
    listing = _run("pdffonts", str(cjk_dossier["path"]))
    rows = [line.split() for line in listing.splitlines()]
    embedded = {row[0].split("+", 1)[-1]: row[-5:-2] for row in rows[2:]}
    assert embedded["Casebook-Fallback"] == ["yes", "yes", "yes"], embedded
    # Latin text still uses the DejaVu faces.
    assert "Casebook-Serif" in embedded


def test_cjk_text_extracts_back_as_the_same_characters(cjk_dossier):
    text = re.sub(r"\s+", "", _run("pdftotext", str(cjk_dossier["path"]), "-"))
    assert TITLE in text
    assert re.sub(r"\s+", "", NOTE) in text


def test_a_dossier_with_cjk_text_is_still_pdfa_with_every_font_embedded(cjk_dossier):
    check = subprocess.run(
        ["qpdf", "--check", str(cjk_dossier["path"])], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    with pikepdf.open(cjk_dossier["path"]) as pdf:
        meta = pdf.open_metadata()
        assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("3", "B")
        names = set()
        for page in pdf.pages:
            for font in page.Resources.get("/Font", {}).values():
                names.add(str(font.BaseFont).split("+", 1)[-1])
                assert "/ToUnicode" in font
                for descendant in font.get("/DescendantFonts", []):
                    assert "/FontFile2" in descendant.FontDescriptor
    assert "Casebook-Fallback" in names
    assert all(name.startswith("Casebook-") for name in names), names
