"""The one exception of the local broker: what went wrong, in words an operator can act on."""

from __future__ import annotations


class BrokerError(RuntimeError):
    """The local broker could not be started, stopped or reached; says why."""
