"""Who may see what (可见范围): the one place a signed-in user's scope becomes SQL.

Inspectors see every department and town; a department head (部门负责人) only their
department's cases, alerts, orders and reviews; a town manager (镇街) only their
town's. Rankings of all units stay visible to every signed-in role. Every query of
the dashboard takes a ``Scope`` and adds its condition, so a crafted URL finds
nothing outside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import Role
from projections.clickhouse import quote


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
        if self.role == Role.PUBLIC:
            return "0"
        if self.role == Role.HEAD:
            if department is None or not self.department:
                return "0"
            return f"{department} = {quote(self.department)}"
        if self.role == Role.TOWN:
            if town is None or not self.town:
                return "0"
            return f"{town} = {quote(self.town)}"
        return "1"

    def allows(self, department: str | None, town: str | None) -> bool:
        """The same rule for one row read elsewhere (a case from the event store)."""
        if self.role == Role.PUBLIC:
            return False
        if self.role == Role.HEAD:
            return bool(self.department) and department == self.department
        if self.role == Role.TOWN:
            return bool(self.town) and town == self.town
        return True
