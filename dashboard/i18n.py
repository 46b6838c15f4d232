"""Chinese by default, English on request: every label through one of two functions.

Domain words (statuses, kinds, channels, alerts…) take their labels from the
vocabulary (``word``); the pages' own text is written in both languages where it
is used (``tr``). The language lives in the URL (``?lang=en``) so a shared link
keeps it.
"""

from __future__ import annotations

import streamlit as st

from domain.vocabulary import Word

LANGS = ("zh", "en")


def lang() -> str:
    """The viewer's language: the URL's ``lang``, else Chinese."""
    value = st.query_params.get("lang", "zh")
    return value if value in LANGS else "zh"


def tr(zh: str, en: str) -> str:
    """The page text in the viewer's language."""
    return en if lang() == "en" else zh


def word(value: object, kind: type[Word]) -> str:
    """A domain word's label (``in_progress`` -> 办理中 / in progress); a value the
    vocabulary does not know is shown as it is."""
    try:
        return kind(str(value)).label(lang())
    except ValueError:
        return str(value)


def language_switch() -> None:
    """The sidebar's 中文 / English switch; it changes the URL."""
    current = lang()
    choice = st.sidebar.radio(
        "语言 / Language",
        LANGS,
        index=LANGS.index(current),
        format_func=lambda x: "中文" if x == "zh" else "English",
        horizontal=True,
        key="lang_switch",
    )
    if choice != current:
        st.query_params["lang"] = choice
        st.rerun()
