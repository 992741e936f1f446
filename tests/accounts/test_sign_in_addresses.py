"""Sign-in throttling by client address: proxies, spoofed headers, and lockouts that
an attacker cannot turn against other people."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import SecurityEvent
from tests.factories import PASSWORD

LOGIN = reverse("accounts:login")
Kind = SecurityEvent.Kind
PROXY = "10.0.0.1"


def sign_in(username: str, password: str, *, peer: str, forwarded: str = ""):
    client = Client(REMOTE_ADDR=peer)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post(
        LOGIN, {"username": username, "password": password}, headers=headers
    )


def last_event() -> SecurityEvent:
    return SecurityEvent.objects.order_by("-id").first()


def test_failures_from_one_client_behind_the_proxy_do_not_lock_out_alice(
    analyst, settings
):
    # given a reverse proxy in front of Casebook, and an attacker behind it who
    # fails 22 times at alice's password (and sprays other names)
    settings.TRUSTED_PROXIES = [PROXY]
    for n in range(22):
        username = analyst.username if n % 2 else f"user{n}"
        sign_in(username, "guess", peer=PROXY, forwarded="203.0.113.66")

    # when alice signs in from her own machine, through the same proxy
    response = sign_in(analyst.username, PASSWORD, peer=PROXY, forwarded="198.51.100.7")

    # then she is in, and the log names her address, not the proxy's
    assert response.status_code == 302
    assert last_event().kind == Kind.SIGNED_IN
    assert last_event().ip_address == "198.51.100.7"
    # while the attacker stays refused
    assert sign_in(analyst.username, PASSWORD, peer=PROXY, forwarded="203.0.113.66")
    assert last_event().kind == Kind.SIGN_IN_THROTTLED
    assert last_event().ip_address == "203.0.113.66"


def test_an_attacker_hammering_alice_from_elsewhere_does_not_lock_her_out(analyst):
    # given
    for _ in range(30):
        sign_in(analyst.username, "guess", peer="203.0.113.66")
    assert sign_in(analyst.username, PASSWORD, peer="203.0.113.66").status_code == 429

    # when
    response = sign_in(analyst.username, PASSWORD, peer="198.51.100.7")

    # then
    assert response.status_code == 302


def test_an_address_that_sprays_many_usernames_is_blocked_alone(analyst, settings):
    # given one address failing below the per-user limit at many usernames
    settings.LOGIN_FAILURE_ADDRESS_LIMIT = 6
    for n in range(6):
        sign_in(f"user{n}", "guess", peer="203.0.113.66")

    # then that address is refused even for a new username, others are not
    assert sign_in(analyst.username, PASSWORD, peer="203.0.113.66").status_code == 429
    assert sign_in(analyst.username, PASSWORD, peer="198.51.100.7").status_code == 302


def test_a_successful_sign_in_clears_the_users_own_failures(analyst, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        sign_in(analyst.username, "typo", peer="198.51.100.7")
    assert sign_in(analyst.username, PASSWORD, peer="198.51.100.7").status_code == 302

    for _ in range(2):
        sign_in(analyst.username, "typo", peer="198.51.100.7")
    response = sign_in(analyst.username, PASSWORD, peer="198.51.100.7")

    assert response.status_code == 302


def test_the_window_passing_lets_a_throttled_user_in_again(analyst, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(analyst.username, "guess", peer="198.51.100.7")
    assert sign_in(analyst.username, PASSWORD, peer="198.51.100.7").status_code == 429

    settings.LOGIN_FAILURE_WINDOW_SECONDS = 0
    response = sign_in(analyst.username, PASSWORD, peer="198.51.100.7")

    assert response.status_code == 302


@pytest.mark.parametrize("trusted", [[], ["192.0.2.0/24"]])
def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(analyst, settings, trusted):
    # given a peer that is not a trusted proxy, claiming a new address every time
    settings.TRUSTED_PROXIES = trusted
    settings.LOGIN_FAILURE_LIMIT = 3
    for n in range(3):
        sign_in(analyst.username, "guess", peer="203.0.113.66", forwarded=f"1.1.1.{n}")

    # when
    response = sign_in(
        analyst.username, PASSWORD, peer="203.0.113.66", forwarded="1.1.1.99"
    )

    # then the header changed nothing: its own address is throttled and logged
    assert response.status_code == 429
    assert set(SecurityEvent.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.66"
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # the client's own claim on the left is not believed past the first untrusted
        (PROXY, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        # a chain of trusted proxies is walked from the right
        (PROXY, "6.6.6.6, 203.0.113.9, 10.4.0.2, 10.9.9.9", "203.0.113.9"),
        # no spaces after the commas
        (PROXY, "203.0.113.9,10.4.0.2", "203.0.113.9"),
        # ports and brackets as some proxies write them
        (PROXY, "[2001:DB8::7]:4711", "2001:db8::7"),
        (PROXY, "203.0.113.9:4711", "203.0.113.9"),
        # a trusted proxy passing on garbage: the last proxy we can vouch for
        (PROXY, "not-an-address, 10.4.0.2", "10.4.0.2"),
        # no header: the proxy itself
        (PROXY, "", PROXY),
        # an untrusted peer, even inside a private network
        ("192.168.1.20", "203.0.113.9", "192.168.1.20"),
        # an IPv4 client seen through a dual-stack socket
        ("::ffff:198.51.100.7", "", "198.51.100.7"),
    ],
)
def test_the_security_log_records_the_resolved_client_address(
    db, settings, peer, forwarded, client
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    sign_in("nobody", "guess", peer=peer, forwarded=forwarded)

    event = last_event()
    assert event.kind == Kind.SIGN_IN_FAILED
    assert event.ip_address == client


def test_signing_out_records_the_resolved_client_address(analyst, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    client = Client(REMOTE_ADDR=PROXY)
    client.force_login(analyst)

    client.post(reverse("accounts:logout"), headers={"X-Forwarded-For": "198.51.100.7"})

    assert last_event().kind == Kind.SIGNED_OUT
    assert last_event().ip_address == "198.51.100.7"
