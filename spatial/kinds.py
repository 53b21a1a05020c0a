"""Site kinds: the one rule for what a kind may be, and labels for the kinds the loaders make.

A kind is a lower-case identifier (``gp_practice``, ``council_building``): a letter, then
letters, digits or underscores, 2 to 63 characters. Loaders map each source's own
classification to one (ODS prescribing setting, ERIC site type, council holding type); an
uploaded register may bring kinds of its own, so the rule is a pattern, not a closed list.
"""

from __future__ import annotations

import re

__all__ = ["KIND_LABELS", "KIND_PATTERN", "check_kind", "is_kind", "kind_label"]

#: The pattern every site kind matches (JSON Schema / OpenAPI ``pattern``).
KIND_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
_KIND = re.compile(KIND_PATTERN)

#: Labels of the kinds the bundled loaders produce (others are labelled from their name).
KIND_LABELS: dict[str, str] = {
    "gp_practice": "GP practice",
    "pharmacy": "Pharmacy",
    "dentist": "Dentist",
    "hospital": "Hospital",
    "community_hospital": "Community hospital",
    "care_site": "Care site",
    "care_home": "Care home",
    "clinic": "Clinic",
    "walk_in_centre": "Walk-in centre",
    "out_of_hours": "Out-of-hours service",
    "urgent_care": "Urgent care",
    "council_building": "Council building",
    "council_land": "Council land",
}


def is_kind(value: object) -> bool:
    """True when ``value`` is a string that follows :data:`KIND_PATTERN`."""
    return isinstance(value, str) and _KIND.fullmatch(value) is not None


def check_kind(value: str, *, parameter: str = "kind") -> str:
    """``value`` when it is a valid kind.

    Raises
    ------
    ValueError
        Naming ``parameter`` and the rule.
    """
    if not is_kind(value):
        raise ValueError(
            f"{parameter} {value!r}: a site kind is a lower-case letter followed by 1 to 62 "
            "lower-case letters, digits or underscores (e.g. gp_practice)"
        )
    return value


def kind_label(kind: str) -> str:
    """A human label: ``gp_practice`` → ``GP practice``; unknown kinds from their name."""
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())
