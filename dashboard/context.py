"""The services object of this process, set once by ``dashboard.app.run``."""

from __future__ import annotations

from dashboard.services import Services

_services: Services | None = None


def use(services: Services) -> None:
    global _services
    _services = services


def services() -> Services:
    if _services is None:
        raise RuntimeError("the dashboard was started without its services (infra/dashboard)")
    return _services
