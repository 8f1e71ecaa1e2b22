"""Support resources shown on every page people see (the web page and the reports):
France by default, any country from a JSON file.

``SUPPORT_RESOURCES_FILE`` points at a file in this format (see ``packages/mp-core/examples/``)::

    {
      "country": "United Kingdom",
      "emergency": "999",
      "intro": "Free, confidential and open to students.",
      "resources": [
        {"name": "Samaritans", "description": "24/7 listening line.",
         "phone": "116 123", "url": "https://www.samaritans.org"}
      ]
    }

``phone``, ``url`` and ``hours`` are optional; at least one resource is required. A ``url`` must
start with ``https://``, ``tel:`` or ``mailto:``: the page turns it into a link, and any other
scheme (``javascript:``, ``data:``, plain ``http://``) is refused when the file is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class Resource(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One helpline or service."""

    name: NonEmpty
    description: NonEmpty
    phone: str | None = None
    url: str | None = None
    hours: str | None = None


class SupportResources(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The resources of one country."""

    country: NonEmpty
    resources: Annotated[tuple[Resource, ...], msgspec.Meta(min_length=1)]
    emergency: str | None = None
    intro: str | None = None


class SupportResourcesError(ValueError):
    """The support resources file is missing or does not follow the documented format."""


#: The only link schemes a support resource may use.
LINK_SCHEMES: Final = ("https://", "tel:", "mailto:")


def check_links(resources: SupportResources) -> None:
    """Raise :class:`SupportResourcesError` naming the first entry whose link is not allowed."""
    for index, resource in enumerate(resources.resources):
        url = resource.url
        if url is not None and not url.strip().lower().startswith(LINK_SCHEMES):
            raise SupportResourcesError(
                f"resources[{index}] ({resource.name!r}): url {url[:80]!r} must start with "
                + ", ".join(LINK_SCHEMES)
            )


FRANCE: Final = SupportResources(
    country="France",
    emergency="112 (or 15 for medical help)",
    intro="Free and confidential. You can call for yourself or for a friend.",
    resources=(
        Resource(
            name="3114",
            description="National suicide-prevention line, answered by trained professionals.",
            phone="3114",
            url="https://3114.fr",
            hours="24 hours a day, 7 days a week",
        ),
        Resource(
            name="SOS Amitié",
            description="Listening line for anyone going through a hard time.",
            phone="09 72 39 40 50",
            url="https://www.sos-amitie.com",
            hours="24 hours a day, 7 days a week",
        ),
        Resource(
            name="Fil Santé Jeunes",
            description="Anonymous line for young people aged 12 to 25.",
            phone="0 800 235 236",
            url="https://www.filsantejeunes.com",
            hours="Every day, 9:00 to 23:00",
        ),
        Resource(
            name="Nightline",
            description="Listening service run by students, for students.",
            url="https://www.nightline.fr",
            hours="Evenings and nights",
        ),
    ),
)


def load_support_resources(path: Path | None) -> SupportResources:
    """The resources in ``path``, or France's when no file is configured."""
    if path is None:
        return FRANCE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SupportResourcesError(
            f"SUPPORT_RESOURCES_FILE {path}: cannot read it ({exc.strerror})"
        ) from None
    try:
        resources = msgspec.json.decode(data, type=SupportResources)
        check_links(resources)
    except SupportResourcesError as exc:
        raise SupportResourcesError(f"SUPPORT_RESOURCES_FILE {path}: {exc}") from None
    except msgspec.ValidationError as exc:
        # msgspec names the rule and the place: "Expected `str` - at `$.resources[0].name`".
        raise SupportResourcesError(f"SUPPORT_RESOURCES_FILE {path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise SupportResourcesError(
            f"SUPPORT_RESOURCES_FILE {path}: not valid JSON ({exc})"
        ) from None
    return resources


def support_line(resources: SupportResources) -> str:
    """All the resources in one plain sentence, for pages with little room (the reports)."""
    parts = []
    for resource in resources.resources:
        contact = resource.phone or resource.url or ""
        parts.append(f"{resource.name} {contact}".strip())
    line = f"Support in {resources.country}: " + "; ".join(parts)
    if resources.emergency:
        line += f"; emergency {resources.emergency}"
    return line + "."
