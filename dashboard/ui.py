"""What every page shares: the reader or a clear message, the signed-in user, colours."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

import pandas as pd
import streamlit as st

from dashboard import context
from dashboard.i18n import tr
from dashboard.services import User
from domain.vocabulary import TIME_ZONE, BoardCard
from projections.clickhouse import Reader

#: The colour of each board card, and of alert cards (yellow warning, red overdue).
CARD_COLOURS = {
    BoardCard.RED.value: "#d62728",
    BoardCard.YELLOW.value: "#e6a800",
    BoardCard.STOPPED.value: "#7f7f7f",
    BoardCard.ON_TRACK.value: "#2ca02c",
}


def card_styled(df: pd.DataFrame, column: str, cards: list[str]) -> Any:
    """The table with its card column coloured, so red rows read as red at a glance."""
    colours = [CARD_COLOURS.get(c, "") for c in cards]

    def paint(col: pd.Series) -> list[str]:
        if col.name != column:
            return [""] * len(col)
        return [f"color: {c}; font-weight: 600" if c else "" for c in colours]

    return df.style.apply(paint, axis=0)


def stop_with(message: str, *, error: bool = False) -> NoReturn:
    """Show a clear message instead of the page (never a traceback) and stop."""
    (st.error if error else st.info)(message)
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def reader() -> Reader:
    """The read models, or the page stops with what to do about their absence."""
    ch = context.services().reader()
    if ch is None:
        stop_with(context.services().reader_problem(), error=True)
    return ch


def user_or_stop() -> User:
    """The signed-in user; the page stops (asking to sign in) when there is none."""
    user = st.session_state.get("hallwatch_user")
    if not isinstance(user, User):
        stop_with(tr("请先登录。", "Please sign in first."))
    return user


def now() -> datetime:
    """The board's clock."""
    return context.services().now().astimezone(TIME_ZONE)
