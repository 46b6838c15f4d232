"""Service catalogue (事项目录): the CSV contract, item versions and a versioned index.

The catalogue tells every case which item it is for, which department owns it, its
statutory (法定时限) and promised (承诺时限) limits and its approval steps (审批环节).
It changes over time, and a case keeps the item version in force when it was
received, so every row is an :class:`ItemVersion` keyed by ``(item_code, valid_from)``.
"""

from __future__ import annotations

from domain.catalogue.index import Catalogue, sample_catalogue_path
from domain.catalogue.items import (
    CATALOGUE_COLUMNS,
    CATEGORY_ZH,
    ONLINE_DEPTHS,
    CatalogueError,
    ItemVersion,
    Step,
    format_steps,
    parse_steps,
)
from domain.catalogue.parsing import (
    ParsedCatalogue,
    RowRefusal,
    load_catalogue,
    parse_catalogue,
    parse_catalogue_text,
)
from domain.vocabulary import Category

__all__ = [
    "CATALOGUE_COLUMNS",
    "CATEGORY_ZH",
    "ONLINE_DEPTHS",
    "Catalogue",
    "CatalogueError",
    "Category",
    "ItemVersion",
    "ParsedCatalogue",
    "RowRefusal",
    "Step",
    "format_steps",
    "load_catalogue",
    "parse_catalogue",
    "parse_catalogue_text",
    "parse_steps",
    "sample_catalogue_path",
]
