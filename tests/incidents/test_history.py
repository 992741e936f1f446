import pytest
from django.db import DatabaseError, connection, transaction

from incidents import services
from incidents.models import HistoryEntry


def test_history_refuses_update(incident):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        HistoryEntry.objects.filter(incident=incident).update(summary="rewritten")
    assert not HistoryEntry.objects.filter(summary="rewritten").exists()


def test_history_refuses_delete(incident):
    count = HistoryEntry.objects.count()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        HistoryEntry.objects.filter(incident=incident).delete()
    assert HistoryEntry.objects.count() == count


def test_history_refuses_raw_sql_changes(incident):
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE incidents_historyentry SET actor_id = NULL")


def test_every_change_is_in_the_history_with_who_what_before_and_after(
    incident, analyst, counsel, api
):
    # given
    client = api(counsel)
    path = f"/api/v1/incidents/{incident.reference}/"
    # when
    client.patch(
        path, {"severity": "critical", "title": "Hydra campaign"}, format="json"
    )
    client.post(f"{path}transition/", {"to": "triage"}, format="json")
    client.post(f"{path}notes/", {"body": "secret", "privileged": True}, format="json")
    # then
    history = api(analyst).get(f"{path}history/?page_size=100").json()
    entries = history["results"]
    assert history["count"] == len(entries)
    by_action = {(e["action"], e["actor"]): e for e in entries}
    assert by_action[("incident.severity_changed", "carol")]["before"] == {
        "severity": "high"
    }
    assert by_action[("incident.severity_changed", "carol")]["after"] == {
        "severity": "critical"
    }
    assert by_action[("incident.title_changed", "carol")]["after"] == {
        "title": "Hydra campaign"
    }
    assert by_action[("incident.transitioned", "carol")]["after"] == {
        "status": "triage"
    }
    note_entry = by_action[("note.added", "carol")]
    assert "secret" not in str(note_entry)  # a privileged body never leaks into history
    assert {"incident.opened", "member.added"} <= {e["action"] for e in entries}
    assert all(e["at"].endswith("Z") for e in entries)


def test_history_page_lists_the_history(client, incident, analyst):
    services.incident_transition(incident=incident, by=analyst, to="triage")
    client.force_login(analyst)
    page = client.get(f"/incidents/{incident.reference}/history/")
    assert page.status_code == 200
    assert b"open" in page.content and b"triage" in page.content


def test_duplicate_subjects_with_different_notes_open_one_subject(analyst, api, db):
    response = api(analyst).post(
        "/api/v1/incidents/",
        {
            "title": "Dup",
            "kind": "other",
            "severity": "low",
            "subjects": [
                {"kind": "ip", "value": "1.2.3.4"},
                {"kind": "ip", "value": "1.2.3.4", "note": "again"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201
    assert len(response.json()["subjects"]) == 1
