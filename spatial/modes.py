"""The travel modes Locus knows: the one registry every layer reads.

``drive``, ``walk`` and ``cycle`` run on road networks built from OpenStreetMap
(:mod:`spatial.network`); ``transit`` runs on a GTFS timetable (:mod:`spatial.transit`) with
walking legs. Whether a mode is *available* depends on what is loaded, which the data layer
answers (``store.networks.available_modes``); what each mode *is* lives here, so routers, jobs,
the loader and the web client (through ``/analysis/modes``) never list modes themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeGuard, get_args

__all__ = [
    "MODES",
    "ROAD_MODES",
    "Mode",
    "ModeSpec",
    "RoadMode",
    "is_mode",
    "is_road_mode",
    "mode_spec",
]

#: Every travel mode, in the order they are offered.
Mode = Literal["drive", "walk", "cycle", "transit"]
#: The modes routed on an OSM road network (one graph each).
RoadMode = Literal["drive", "walk", "cycle"]

MODES: tuple[Mode, ...] = get_args(Mode)
ROAD_MODES: tuple[RoadMode, ...] = get_args(RoadMode)


@dataclass(frozen=True)
class ModeSpec:
    """What a mode is: its label, what data it needs and how its speed is set."""

    mode: Mode
    label: str
    #: The loaded data that makes the mode available.
    needs: Literal["road network", "GTFS feed"]
    #: How travel speed is decided (stated in results' metadata).
    speed_rule: str


_SPECS: dict[Mode, ModeSpec] = {
    "drive": ModeSpec(
        "drive",
        "Car",
        "road network",
        "UK default speed by road class, capped by a numeric or national-limit maxspeed",
    ),
    "walk": ModeSpec(
        "walk", "Walking", "road network", "the walking speed setting on every walkable way"
    ),
    "cycle": ModeSpec(
        "cycle", "Cycling", "road network", "the cycling speed setting on every cyclable way"
    ),
    "transit": ModeSpec(
        "transit",
        "Public transport",
        "GTFS feed",
        "the timetable, with walking legs at the walking speed setting",
    ),
}


def is_mode(value: object) -> TypeGuard[Mode]:
    """True when ``value`` names a travel mode."""
    return value in MODES


def is_road_mode(value: object) -> TypeGuard[RoadMode]:
    """True when ``value`` names a mode routed on a road network."""
    return value in ROAD_MODES


def mode_spec(mode: str) -> ModeSpec:
    """The :class:`ModeSpec` of ``mode``.

    Raises
    ------
    ValueError
        When ``mode`` is not one of :data:`MODES` (the message lists them).
    """
    if not is_mode(mode):
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    return _SPECS[mode]
