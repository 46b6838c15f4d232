"""Who may see what (可见范围): the one place a signed-in user's scope becomes SQL.

Inspectors see every department and town; a department head (部门负责人) only their
department's cases, alerts, orders and reviews; a town manager (镇街) only their
town's; any other role (the public, or one this module does not know) nothing.
Rankings of all units stay visible to every signed-in role. Every query of the
dashboard takes a ``Scope`` and adds its condition, so a crafted URL finds nothing
outside it. The unit reaches SQL only through ``equals`` (``quote``).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import Role
from projections.clickhouse import equals


@dataclass(frozen=True)
class Scope:
    """A role and the unit it is bound to (``None``: every unit)."""

    role: str
    department: str | None = None
    town: str | None = None

    @classmethod
    def everything(cls) -> Scope:
        """An inspector's scope, and the command line's."""
        return cls(Role.INSPECTOR.value)

    @classmethod
    def nothing(cls) -> Scope:
        """The public's scope: no table row at all."""
        return cls(Role.PUBLIC.value)

    def sql(self, *, department: str | None = "department", town: str | None = "town") -> str:
        """The condition on a table's (or subquery's) department and town columns; a table
        without the column a scope needs matches nothing."""
        if self.role == Role.INSPECTOR:
            return "1"
        if self.role == Role.HEAD:
            return _equals(department, self.department)
        if self.role == Role.TOWN:
            return _equals(town, self.town)
        return "0"  # the public, and any role this module does not know

    def allows(self, department: str | None, town: str | None) -> bool:
        """The same rule for one row read elsewhere (a case from the event store)."""
        if self.role == Role.INSPECTOR:
            return True
        if self.role == Role.HEAD:
            return bool(self.department) and department == self.department
        if self.role == Role.TOWN:
            return bool(self.town) and town == self.town
        return False


def _equals(column: str | None, unit: str | None) -> str:
    """``column = 'unit'``, or nothing (``0``) when there is no such column, no unit, or a
    unit longer than any that exists."""
    if column is None or not unit:
        return "0"
    return equals(column, unit)
