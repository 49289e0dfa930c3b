"""Shipping zones, fees and delivery estimates for the sample shop (warehouse in Lyon, France)."""

from __future__ import annotations

from datetime import date, timedelta

WAREHOUSE = "Lyon, France"
DOMESTIC = "France"
DISPATCH_DAYS = 2
EU_COUNTRIES = frozenset(
    {
        "Austria", "Belgium", "Bulgaria", "Croatia", "Cyprus", "Czechia", "Denmark", "Estonia", "Finland",
        "France", "Germany", "Greece", "Hungary", "Ireland", "Italy", "Latvia", "Lithuania", "Luxembourg",
        "Malta", "Netherlands", "Poland", "Portugal", "Romania", "Slovakia", "Slovenia", "Spain", "Sweden",
    }
)  # fmt: skip
EUROPE_OUTSIDE_EU = frozenset({"United Kingdom", "Norway", "Switzerland"})
INTERNATIONAL_FEES = {"United States": 19.00, "China": 24.00, "Japan": 24.00, "Brazil": 29.00}
TRANSIT_DAYS = {
    "domestic": (1, 2),
    "eu": (2, 4),
    "europe": (3, 5),
    "United States": (5, 8),
    "China": (6, 10),
    "Japan": (6, 10),
    "Brazil": (8, 14),
}
CARRIERS = {"domestic": "Colissimo", "eu": "DPD", "europe": "DPD", "international": "DHL Express"}


class ShippingError(Exception):
    """The shop does not ship to the destination."""


def shipping_zone(country: str) -> str:
    """The zone of a destination: ``domestic``, ``eu``, ``europe`` or ``international``."""
    if country == DOMESTIC:
        return "domestic"
    if country in EU_COUNTRIES:
        return "eu"
    if country in EUROPE_OUTSIDE_EU:
        return "europe"
    if country in INTERNATIONAL_FEES:
        return "international"
    raise ShippingError(f"we do not ship to {country!r}")


def shipping_cost(country: str, segment: str = "consumer") -> float:
    """The delivery fee for a destination in EUR.

    Standard shipping is free in France and the rest of Europe. International destinations pay a flat fee
    to the courier on delivery (it is not on our invoice); for VIP customers the shop prepays it.
    """
    if shipping_zone(country) != "international" or segment == "vip":
        return 0.0
    return INTERNATIONAL_FEES[country]


def customs_required(country: str) -> bool:
    """True when the parcel leaves the EU customs union (UK, Norway, Switzerland and international)."""
    return shipping_zone(country) in {"europe", "international"}


def carrier_for(country: str) -> str:
    """The carrier used for a destination."""
    return CARRIERS[shipping_zone(country)]


def transit_days(country: str) -> tuple[int, int]:
    """Business days from dispatch to delivery, as (fastest, slowest)."""
    zone = shipping_zone(country)
    return TRANSIT_DAYS[country] if zone == "international" else TRANSIT_DAYS[zone]


def estimate_delivery_days(country: str) -> tuple[int, int]:
    """Business days from order to delivery quoted to customers: transit plus up to DISPATCH_DAYS."""
    fastest, slowest = transit_days(country)
    return fastest, slowest + DISPATCH_DAYS


def add_business_days(start: date, days: int) -> date:
    """The date ``days`` business days (Monday to Friday) after ``start``."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def latest_delivery_date(country: str, ordered_on: date) -> date:
    """The latest delivery date promised for an order placed on ``ordered_on``."""
    return add_business_days(ordered_on, estimate_delivery_days(country)[1])
