def test_incident_can_be_opened(incident):
    assert incident.reference.startswith("INC-")
