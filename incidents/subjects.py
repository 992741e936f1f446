"""Validation and normalisation of incident subjects, one rule per kind.

Normalised values make duplicates detectable ("2001:DB8::1" and "2001:db8::1" are one
subject) and let alerts correlate to incidents that name the same infrastructure.
"""

import ipaddress
import re
from typing import Any

from config.errors import InvalidInput
from incidents.models import Subject

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_FINGERPRINT = re.compile(r"^[A-Za-z0-9:_+/=.\-]{4,200}$")
_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_ASN = 4_294_967_295


def _identifier(value: str, what: str) -> str:
    if len(value) > 256:
        raise ValueError(f"{what} is longer than 256 characters")
    return value


def _fingerprint(value: str, what: str) -> str:
    if not _FINGERPRINT.match(value):
        raise ValueError(
            f"{what} must be 4 to 200 characters of letters, digits and ':_+/=.-'"
        )
    return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IPv4 or IPv6 address") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid network in CIDR notation") from None


def _asn(value: str) -> str:
    match = _ASN.match(value.replace(" ", ""))
    if not match or int(match.group(1)) > MAX_ASN:
        raise ValueError(f"'{value}' is not an AS number (AS0 to AS{MAX_ASN})")
    return f"AS{int(match.group(1))}"


def _email_domain(value: str) -> str:
    domain = value.lstrip("@").rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"'{value}' is not a valid domain name") from None
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(map(_DOMAIN_LABEL.match, labels))
    ):
        raise ValueError(f"'{value}' is not a valid domain name")
    return domain


def _user_agent(value: str) -> str:
    if len(value) > 512:
        raise ValueError("user agent is longer than 512 characters")
    return value


_NORMALISERS = {
    Subject.Kind.ACCOUNT: lambda v: _identifier(v, "account id"),
    Subject.Kind.ORG: lambda v: _identifier(v, "organisation id"),
    Subject.Kind.API_KEY_FP: lambda v: _fingerprint(v, "API key fingerprint"),
    Subject.Kind.PAYMENT_FP: lambda v: _fingerprint(v, "payment fingerprint"),
    Subject.Kind.IP: _ip,
    Subject.Kind.CIDR: _cidr,
    Subject.Kind.ASN: _asn,
    Subject.Kind.EMAIL_DOMAIN: _email_domain,
    Subject.Kind.USER_AGENT: _user_agent,
}


def normalise_subject(kind: Any, value: Any) -> str:
    """Return the canonical form of `value` for `kind`, or raise InvalidInput.
    Either may be anything a client sent: both are checked here."""
    if kind not in Subject.Kind.values:
        allowed = ", ".join(Subject.Kind.values)
        raise InvalidInput.for_field(
            "kind", f"'{kind}' is not a subject kind ({allowed})"
        )
    if not isinstance(value, str):
        raise InvalidInput.for_field("value", "value must be a string")
    value = value.strip()
    if not value:
        raise InvalidInput.for_field("value", "value must not be empty")
    if _CONTROL_CHARS.search(value):
        raise InvalidInput.for_field(
            "value", "value must not contain control characters"
        )
    try:
        return _NORMALISERS[kind](value)
    except ValueError as error:
        raise InvalidInput.for_field("value", f"invalid {kind}: {error}") from None
