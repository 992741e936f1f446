"""The section registry: one list that the API, the Dossiers tab, the snapshot and the
PDF all read, with each app registering its own section."""

import pytest
from django.template.loader import get_template

from dossiers.models import Dossier
from dossiers.sections import Section, dossier_sections, section_register

DOCUMENT_ORDER = [
    "summary",
    "facts",
    "subjects",
    "timeline",
    "query_logs",
    "analysis",
    "alerts",
    "forensic_results",
    "exhibits",
    "custody",
    "notes",
    "privilege_log",
    "appendix",
    "certification",
]


def test_the_sections_come_in_document_order_with_analysis_registered_by_its_app():
    sections = dossier_sections()
    assert [s.key for s in sections] == DOCUMENT_ORDER
    analysis = next(s for s in sections if s.key == "analysis")
    assert analysis.build.__module__ == "analysis.dossier"


def test_every_section_has_a_print_template_under_dossiers_pdf():
    for section in dossier_sections():
        assert section.template.startswith("dossiers/pdf/_")
        get_template(section.template)  # raises when missing


def test_a_second_section_with_a_known_key_or_place_is_refused():
    known = dossier_sections()[0]
    with pytest.raises(ValueError, match="already registered"):
        section_register(
            Section(key=known.key, title="x", label="x", order=9999, template="x.html")
        )
    with pytest.raises(ValueError, match="share order"):
        section_register(
            Section(
                key="another", title="x", label="x", order=known.order, template="x"
            )
        )
    section_register(known)  # the same declaration again is harmless
    assert [s.key for s in dossier_sections()] == DOCUMENT_ORDER


def test_a_request_without_sections_takes_every_registered_one_in_order(
    incident, counsel, api
):
    response = api(counsel).post(
        f"/api/v1/incidents/{incident.reference}/dossiers/",
        {"sections": ["certification", "analysis", "summary"]},
        format="json",
    )
    assert response.status_code == 202
    assert response.json()["sections"] == ["summary", "analysis", "certification"]

    response = api(counsel).post(
        f"/api/v1/incidents/{incident.reference}/dossiers/", {}, format="json"
    )
    assert response.json()["sections"] == DOCUMENT_ORDER


def test_an_unregistered_section_is_refused_naming_the_known_ones(
    incident, counsel, api
):
    response = api(counsel).post(
        f"/api/v1/incidents/{incident.reference}/dossiers/",
        {"sections": ["summary", "gossip"]},
        format="json",
    )
    assert response.status_code == 400
    assert "gossip" in str(response.json())
    assert "privilege_log" in str(response.json())
    assert not Dossier.objects.filter(incident=incident).exists()


def test_the_dossiers_tab_offers_each_section_by_its_label(incident, counsel, client):
    client.force_login(counsel)
    page = client.get(f"/incidents/{incident.reference}/dossiers/").content.decode()
    for section in dossier_sections():
        assert f'value="{section.key}"' in page
    assert "Certification (FRE 902(13)/(14))" in page
    assert "Alerts and signals" in page
