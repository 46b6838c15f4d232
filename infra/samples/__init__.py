"""Sample data shipped with hallwatch: intake records for the demo."""

from __future__ import annotations

from pathlib import Path


def sample_records_path() -> Path:
    """The sample intake records (JSON Lines) generated from the sample catalogue."""
    return Path(__file__).with_name("records.jsonl")
