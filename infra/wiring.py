"""Builds the application from settings; the one place that joins the parts."""

from __future__ import annotations

from domain.application import Hallwatch
from domain.calendar import WorkCalendar, default_override_path
from infra.settings import Settings, eventsourcing_env


def build_calendar(settings: Settings) -> WorkCalendar:
    """The working-day calendar with the administrator's override file."""
    return WorkCalendar.load(settings.calendar_overrides or default_override_path())


def open_app(settings: Settings) -> Hallwatch:
    """Open the event store (SQLite file or PostgreSQL) as a Hallwatch application."""
    return Hallwatch(
        eventsourcing_env(settings),
        calendar=build_calendar(settings),
        secret_key=settings.key(),
        policy=settings.policy,
    )
