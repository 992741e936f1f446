"""The sections a dossier can hold: one registry that the snapshot, the PDF, the
Dossiers tab and the API all read.

A section declares its key (stored on the dossier, accepted by the API), its title
in the PDF, its label on the Dossiers tab, its place in the document, the template
that prints it and the builder that puts its data into the snapshot. The app that
owns a section's data registers it from its own ``AppConfig.ready()`` (dossiers its
core sections, analysis its own): Django runs each ``ready()`` once, after every
model is loaded and before any request, so the list is complete whatever the order
of INSTALLED_APPS, with no signal and no dotted path in settings to go stale. The
order is a number on the section, not the registration order, for the same reason.

A builder takes the `dossiers.snapshot.Case` being captured and returns plain data
(text, numbers, lists, dicts): the snapshot is kept apart from the database while
the PDF renders. A section whose data the PDF does not format itself (everything
but the core sections) returns it ready to print, already capped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps

if TYPE_CHECKING:
    from dossiers.snapshot import Case


@dataclass(frozen=True, kw_only=True)
class Section:
    key: str
    title: str  # the heading in the PDF and its contents
    label: str  # the checkbox on the Dossiers tab
    order: int  # place in the document, smallest first
    template: str  # a partial under templates/dossiers/pdf/
    build: Callable[[Case], Any] | None = None  # None: prints what others capture
    new_page: bool = False


_registry: dict[str, Section] = {}


def section_register(section: Section) -> None:
    """Add `section`; a second section with the same key or place is a programming
    error. Registering the same section again (a repeated ``ready()``) is harmless."""
    known = _registry.get(section.key)
    if known == section:
        return
    if known is not None:
        raise ValueError(f"Dossier section {section.key!r} is already registered.")
    clash = next((s for s in _registry.values() if s.order == section.order), None)
    if clash is not None:
        raise ValueError(
            f"Dossier sections {clash.key!r} and {section.key!r} share order "
            f"{section.order}."
        )
    _registry[section.key] = section


def dossier_sections() -> list[Section]:
    """Every registered section in document order. Refuses to answer before the
    apps are ready, when the list could still be missing an app's section."""
    apps.check_apps_ready()
    return sorted(_registry.values(), key=lambda section: section.order)


def section_keys() -> list[str]:
    return [section.key for section in dossier_sections()]


def section_get(key: str) -> Section | None:
    apps.check_apps_ready()
    return _registry.get(key)
