"""The clock every part of one deployment agrees on: real time, or a simulated one.

``HALLWATCH_CLOCK=<simulated instant>@<real instant>[x<speed>]`` makes "now" the
simulated instant plus the real time elapsed since the real instant, times the
speed: the alerter's deadlines, the board's "now" and a demo's simulator then agree
whichever process asks (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.vocabulary import TIME_ZONE


@dataclass(frozen=True)
class SimulatedClock:
    """Simulated time running ``speed`` times as fast as real time from an anchor."""

    simulated: datetime
    real: datetime
    speed: float = 1.0

    def __call__(self) -> datetime:
        elapsed = datetime.now(UTC) - self.real
        return (self.simulated + elapsed * self.speed).astimezone(TIME_ZONE)

    def text(self) -> str:
        return f"{self.simulated.isoformat()}@{self.real.isoformat()}x{self.speed:g}"


def real_clock() -> datetime:
    """Now, in Asia/Shanghai."""
    return datetime.now(UTC).astimezone(TIME_ZONE)


def parse_clock(text: str) -> SimulatedClock:
    """``<simulated>@<real>[x<speed>]`` (ISO 8601 with offsets); ValueError naming the
    part that does not parse."""
    anchor, _, speed_text = text.strip().partition("x") if "@" in text else ("", "", "")
    if not anchor:
        raise ValueError(f"{text!r} is not <simulated time>@<real time>[x<speed>]")
    simulated_text, _, real_text = anchor.partition("@")
    try:
        simulated = datetime.fromisoformat(simulated_text)
        real = datetime.fromisoformat(real_text)
    except ValueError:
        raise ValueError(f"{text!r}: the times must be ISO 8601 with an offset") from None
    if simulated.tzinfo is None or real.tzinfo is None:
        raise ValueError(f"{text!r}: the times need a UTC offset")
    try:
        speed = float(speed_text) if speed_text else 1.0
    except ValueError:
        raise ValueError(f"{text!r}: the speed {speed_text!r} is not a number") from None
    if not 0 < speed <= 100_000:
        raise ValueError(f"{text!r}: the speed must be above 0 and at most 100000")
    return SimulatedClock(simulated, real, speed)


def clock_of(setting: str | None) -> Callable[[], datetime]:
    """The deployment's clock: real time, or the simulated one the setting describes."""
    return real_clock if not setting else parse_clock(setting)
