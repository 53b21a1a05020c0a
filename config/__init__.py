"""Locus settings: one object, nested per concern, built once by an entry point and passed on."""

from config.settings import (
    ApiSettings,
    DatabaseSettings,
    JobSettings,
    PathSettings,
    Settings,
    TransitSettings,
    TravelSettings,
    get_settings,
    load_settings,
)

__all__ = [
    "ApiSettings",
    "DatabaseSettings",
    "JobSettings",
    "PathSettings",
    "Settings",
    "TransitSettings",
    "TravelSettings",
    "get_settings",
    "load_settings",
]
