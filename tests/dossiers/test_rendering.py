"""The dossier PDF, checked by opening what was written, never by trusting the renderer."""

import hashlib
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pytest
from pypdf import PdfReader

from dossiers import rendering
from dossiers.attachments import Attachment, PackedFile, embed_attachments
from dossiers.rendering import (
    ASSETS_DIR,
    SECTION_TITLES,
    AssetOnlyFetcher,
    render_dossier,
)
from tests.dossiers.snapshots import HOSTILE_NOTE, make_snapshot

PREFIX = "INC20260001"
REFERENCE = "INC-2026-0001"


def _attachments(
    directory: Path,
) -> tuple[list[Attachment], list[dict], dict[str, bytes]]:
    files = [
        ("query-logs.csv", "text/csv", "Every query-log row", "Data"),
        ("custody-bundle.zip", "application/zip", "Custody ledger bundle", "Source"),
        ("snapshot.json", "application/json", "Case snapshot", "Supplement"),
    ]
    attachments, manifest, contents = [], [], {}
    for index, (name, media_type, description, relationship) in enumerate(files):
        data = f"{name}\n".encode() + bytes(range(256)) * (index + 3)
        contents[name] = data
        with PackedFile(directory / f"{name}.deflate") as packed:
            packed.write(data[:100])
            packed.write(data[100:])
        attachments.append(
            packed.attachment(name, media_type, description, relationship)
        )
        manifest.append(
            {
                "name": name,
                "media_type": media_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "description": description,
            }
        )
    return attachments, manifest, contents


class FetchSpy:
    """Records every URL WeasyPrint asks for, whatever the fetcher answers."""

    def __init__(self):
        self.urls: list[str] = []

    def install(self, monkeypatch):
        original = AssetOnlyFetcher.fetch
        spy = self

        def fetch(self, url, headers=None):
            spy.urls.append(url)
            return original(self, url, headers)

        monkeypatch.setattr(AssetOnlyFetcher, "fetch", fetch)


@pytest.fixture(scope="module")
def dossier(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dossier")
    attachments, manifest, contents = _attachments(directory)
    snapshot = make_snapshot(excerpt_rows=300, exhibits=10, attachments=manifest)
    spy, steps = FetchSpy(), []
    with pytest.MonkeyPatch.context() as monkeypatch:
        spy.install(monkeypatch)
        result = render_dossier(
            snapshot,
            directory / "layout.pdf",
            lambda percent, stage: steps.append((percent, stage)),
        )
    path = directory / "dossier.pdf"
    embed_attachments(
        directory / "layout.pdf", path, attachments, created=datetime.now(UTC)
    )
    layout = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        "path": path,
        "result": result,
        "snapshot": snapshot,
        "attachments": attachments,
        "contents": contents,
        "manifest": manifest,
        "fetched": spy.urls,
        "steps": steps,
        "pypdf_pages": [page.extract_text() for page in PdfReader(path).pages],
        "poppler_pages": layout.split("\f")[: result.pages],
    }


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("extractor", ["pypdf_pages", "poppler_pages"])
def test_every_section_title_is_in_the_text(dossier, extractor):
    text = "\n".join(dossier[extractor])
    for title in [*SECTION_TITLES.values(), "Contents"]:
        assert title in text, title


@pytest.mark.parametrize("extractor", ["pypdf_pages", "poppler_pages"])
def test_every_exhibit_and_attachment_hash_is_printed(dossier, extractor):
    # given hashes wrap across lines in narrow columns
    text = _squash("\n".join(dossier[extractor]))
    hashes = [item["sha256"] for item in dossier["snapshot"]["exhibits"]]
    hashes += [item["sha256"] for item in dossier["manifest"]]
    for value in hashes:
        assert value in text


@pytest.mark.parametrize("extractor", ["pypdf_pages", "poppler_pages"])
def test_every_page_has_reference_bates_number_and_page_x_of_y(dossier, extractor):
    pages = dossier[extractor]
    total = dossier["result"].pages
    assert len(pages) == total > 20
    for number, text in enumerate(pages, start=1):
        assert REFERENCE in text, number
        assert re.findall(rf"{PREFIX}-\d+", text) == [f"{PREFIX}-{number:06d}"]
        assert re.findall(r"Page \d+ of \d+", text) == [f"Page {number} of {total}"]


def test_render_result_describes_the_written_pdf(dossier):
    result = dossier["result"]
    assert result.pages == len(PdfReader(dossier["path"]).pages)
    assert result.bates_first == f"{PREFIX}-000001"
    assert result.bates_last == f"{PREFIX}-{result.pages:06d}"


def test_cover_carries_the_case_and_legend(dossier):
    cover = dossier["poppler_pages"][0]
    assert "Suspected distillation of casebook-llm-7b" in cover
    assert "Carol Counsel (carol)" in cover
    assert "Outside counsel" in cover
    assert "February 1, 2026" in cover
    assert "ATTORNEY-CLIENT PRIVILEGED" in cover


def test_contents_page_numbers_point_at_the_sections(dossier):
    contents = dossier["poppler_pages"][1]
    pages = dossier["poppler_pages"]
    for number, key in enumerate(dossier["snapshot"]["sections"], start=1):
        title = SECTION_TITLES[key]
        match = re.search(
            rf"{number}\.\s+{re.escape(title)}[ .]*?(\d+)\s*$", contents, re.M
        )
        assert match, title
        target = pages[int(match[1]) - 1]
        assert re.search(rf"{number}\.\s+{re.escape(title)}", target), title


def test_timeline_shows_event_and_recorded_times(dossier):
    text = "\n".join(dossier["poppler_pages"])
    assert "Occurred (UTC)" in text and "Recorded (UTC)" in text
    assert "2026-01-05 03:00:00" in text  # occurred
    assert "2026-01-05 08:30:00" in text  # recorded


def test_forensic_results_show_method_statistics_and_limitations(dossier):
    text = "\n".join(dossier["poppler_pages"])
    for expected in [
        "logit-fingerprint, version 1.0.0",
        "z = 7.25",
        "1.3e-12",
        "Significance level (α)",
        "inconclusive",
        "Black-box access only",
        "seed = 42",
    ]:
        assert expected in text, expected


def test_privilege_log_and_certification_are_printed(dossier):
    text = "\n".join(dossier["poppler_pages"])
    assert "Note 17" in text
    assert "902(13)" in text and "902(14)" in text
    assert re.search(r"Signature\s*\n", text)
    last = dossier["poppler_pages"][-1]
    for line in ("Name", "Title", "Executed on (date)"):
        assert line in last


def test_excerpt_is_capped_and_points_at_the_full_export(dossier):
    text = "\n".join(dossier["poppler_pages"])
    assert "The first 200 of 1,234,567 query-log rows" in text
    assert "query-logs.csv" in text
    assert "batch 2, line 201" in text  # row 199, the last shown
    assert "line 202" not in text


def test_output_is_structurally_valid(dossier):
    check = subprocess.run(
        ["qpdf", "--check", str(dossier["path"])], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No syntax or stream encoding errors" in check.stdout


def test_pdfa_identification_and_output_intent(dossier):
    with pikepdf.open(dossier["path"]) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "3"
        assert meta.get("pdfaid:conformance") == "B"
        assert pdf.docinfo["/Producer"] == meta.get("pdf:Producer")
        intents = pdf.Root.OutputIntents
        assert len(intents) == 1
        assert intents[0].S == "/GTS_PDFA1"
        profile = intents[0].DestOutputProfile
        assert profile.N == 3
        assert b"sRGB" in profile.read_bytes()[:200] or "sRGB" in str(
            intents[0].OutputConditionIdentifier
        )


def test_only_bundled_fonts_are_embedded(dossier):
    with pikepdf.open(dossier["path"]) as pdf:
        names = set()
        for page in pdf.pages:
            for font in page.Resources.get("/Font", {}).values():
                names.add(str(font.BaseFont).split("+", 1)[-1])
                for descendant in font.get("/DescendantFonts", []):
                    assert "/FontFile2" in descendant.FontDescriptor
    assert names
    assert all(name.startswith("Casebook-") for name in names), names


def test_attachments_extract_with_hash_relationship_and_media_type(dossier):
    with pikepdf.open(dossier["path"]) as pdf:
        embedded = pdf.attachments
        associated = {str(spec.UF) for spec in pdf.Root.AF}
        assert set(embedded) == {a.name for a in dossier["attachments"]}
        for attachment in dossier["attachments"]:
            spec = embedded[attachment.name]
            data = spec.get_file().read_bytes()
            assert data == dossier["contents"][attachment.name]
            assert hashlib.sha256(data).hexdigest() == attachment.sha256
            assert spec.get_file().size == len(data)
            assert spec.obj.AFRelationship == f"/{attachment.relationship}"
            assert spec.get_file().mime_type == attachment.media_type
            assert attachment.name in associated


def test_hostile_note_prints_as_text(dossier):
    text = _squash("\n".join(dossier["poppler_pages"]))
    for fragment in [
        '<imgsrc="http://attacker.invalid/pixel.png">',
        "<linkrel=stylesheethref=file:///etc/passwd>",
        "<script>alert(1)</script>&done.",
    ]:
        assert fragment in text
    assert _squash(HOSTILE_NOTE)[:40] in text


def test_nothing_but_bundled_assets_is_fetched(dossier):
    fetched = dossier["fetched"]
    assert fetched, "the spy saw no fetch at all (fonts should come through it)"
    for url in fetched:
        AssetOnlyFetcher().fetch(url)  # refuses anything but a bundled asset
    assert not any("attacker" in url or "passwd" in url for url in fetched)


@pytest.mark.parametrize(
    "url",
    [
        "http://attacker.invalid/pixel.png",
        "https://attacker.invalid/x.css",
        "file:///etc/passwd",
        f"file://{ASSETS_DIR}/../rendering.py",
        f"file://{ASSETS_DIR}/fonts/missing.ttf",
        f"file://attacker.invalid{ASSETS_DIR}/fonts/DejaVuSans.ttf",
        "data:text/css,body{color:red}",
        "ftp://attacker.invalid/x",
    ],
)
def test_fetcher_refuses_everything_but_bundled_assets(url):
    with pytest.raises(rendering.URLFetchingError):
        AssetOnlyFetcher().fetch(url)


def test_fetcher_serves_a_bundled_font():
    response = AssetOnlyFetcher().fetch(f"file://{ASSETS_DIR}/fonts/DejaVuSans.ttf")
    assert response.read(4) == b"\x00\x01\x00\x00"


def test_progress_stays_between_20_and_80(dossier):
    percents = [percent for percent, _ in dossier["steps"]]
    assert percents == sorted(percents)
    assert percents[0] >= 20 and percents[-1] <= 80
    assert any(stage == "laying out" for _, stage in dossier["steps"])


def test_chart_is_vector_bars_not_an_image(dossier):
    with pikepdf.open(dossier["path"]) as pdf:
        for page in pdf.pages:
            for xobject in page.Resources.get("/XObject", {}).values():
                assert xobject.get("/Subtype") != "/Image"
    text = "\n".join(dossier["poppler_pages"])
    assert "Requests per hour (UTC), 120 intervals" in text


def test_long_activity_is_charted_by_day():
    hourly = [
        {"hour": f"2026-01-{1 + h // 24:02d}T{h % 24:02d}:00:00Z", "count": 1}
        for h in range(24 * 30)
    ]
    chart = rendering.hourly_chart(hourly)
    assert chart["unit"] == "day"
    assert chart["buckets"] == "30"
    assert len(chart["bars"]) == 30
    assert chart["peak"] == "24"


def test_long_custody_record_shows_first_and_last_fifty(tmp_path):
    snapshot = make_snapshot(exhibits=1, custody_events=130, sections=["custody"])
    context = rendering.build_context(snapshot)
    entry = context["custody"][0]
    assert len(entry["before"]) == 50 and len(entry["after"]) == 50
    assert entry["omitted"] == "30"
    # when the snapshot has already cut the record, its own split is kept
    snapshot["custody"][0].update(
        events=snapshot["custody"][0]["events"][:100], omitted=30, omitted_after=50
    )
    again = rendering.build_context(snapshot)["custody"][0]
    assert (len(again["before"]), len(again["after"]), again["omitted"]) == (
        50,
        50,
        "30",
    )

    render_dossier(snapshot, tmp_path / "c.pdf", lambda *_: None)
    text = "\n".join(
        page.extract_text() for page in PdfReader(tmp_path / "c.pdf").pages
    )
    assert "… 30 events omitted, full record in the custody bundle" in text


def test_omitted_sections_and_empty_lists(tmp_path):
    snapshot = make_snapshot(sections=["summary", "subjects", "notes", "alerts"])
    snapshot.update(subjects=[], notes=[], alerts=[])
    result = render_dossier(snapshot, tmp_path / "s.pdf", lambda *_: None)
    text = "\n".join(
        page.extract_text() for page in PdfReader(tmp_path / "s.pdf").pages
    )
    assert result.pages >= 3
    for key in ["summary", "subjects", "notes", "alerts"]:
        assert SECTION_TITLES[key] in text
    for key in ["custody", "exhibits", "appendix", "certification", "timeline"]:
        assert SECTION_TITLES[key] not in text
    assert text.count("None recorded.") == 3


def test_big_case_renders(tmp_path):
    snapshot = make_snapshot(
        excerpt_rows=200, exhibits=50, custody_events=20, hourly_bars=1000
    )
    started = time.monotonic()
    result = render_dossier(snapshot, tmp_path / "big.pdf", lambda *_: None)
    elapsed = time.monotonic() - started
    print(f"big dossier: {result.pages} pages in {elapsed:.1f} s")
    assert result.pages > 40
    assert (tmp_path / "big.pdf").stat().st_size > 0
