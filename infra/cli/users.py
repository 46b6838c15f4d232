"""``hallwatch users add|list|remove``: who may sign in to the dashboard (工作人员账号).

The users file (``infra/users.py``: ``<data>/users.yaml`` unless ``HALLWATCH_USERS_FILE``
says otherwise, owner-only) keeps a bcrypt hash of each password, never the password.
``add`` asks for the password twice and never echoes it; it is never an option, so it
cannot end up in shell history or in the process list.

For automation only (provisioning scripts, tests), ``HALLWATCH_USER_PASSWORD`` may give
the password instead of the prompt: an environment variable is visible to other
processes of the same account and easily ends up in logs, so never set it in a shell
profile or a service's environment. When standard input is not a terminal, the password
is read from its first two lines (the password, then the same again).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from domain.vocabulary import Role
from infra.cli.context import current_settings
from infra.cli.output import console, fail, print_json, safe, usage_error, wide
from infra.users import (
    STAFF_ROLES,
    UsersError,
    add_user,
    check_details,
    check_password,
    read_users,
    remove_user,
)

#: Supplies the new user's password instead of the prompt: for automation only.
PASSWORD_ENV = "HALLWATCH_USER_PASSWORD"


def _from_stdin() -> str:
    """The password from standard input that is not a terminal: two equal lines."""
    first, second = sys.stdin.readline(), sys.stdin.readline()
    if not first:
        usage_error(f"no password on standard input (give it twice, or set {PASSWORD_ENV})")
    if not second:
        usage_error("the password must be given twice on standard input (two lines)")
    if first.rstrip("\r\n") != second.rstrip("\r\n"):
        usage_error("the two passwords given on standard input differ")
    return first.rstrip("\r\n")


def read_password() -> str:
    """The new user's password: ``HALLWATCH_USER_PASSWORD``, else asked twice without echo
    on a terminal, else two lines of standard input."""
    given = os.environ.get(PASSWORD_ENV)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        return _from_stdin()
    try:
        password: str = click.prompt(
            "Password (not shown)",
            hide_input=True,
            confirmation_prompt="Repeat the password",
            err=True,
        )
    except click.Abort:
        usage_error("no password given")
    return password


def _users(path: Path) -> dict[str, dict[str, Any]]:
    """The users file's entries; a file that cannot be read is a usage error (exit 2)."""
    try:
        return read_users(path)
    except UsersError as e:
        usage_error(str(e))


def _roles(value: object) -> str:
    """The roles of an entry as the file has them (a hand-edited file may hold a string)."""
    if isinstance(value, list):
        return ",".join(str(r) for r in value)
    return "" if value is None else str(value)


@click.group()
def users() -> None:
    """Dashboard accounts (工作人员账号): inspectors, department heads, town managers."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role", required=True, metavar="|".join(STAFF_ROLES), help="inspector, head or town."
)
@click.option("--department", help="The department a head is bound to (required for head).")
@click.option("--town", help="The town a town manager is bound to (required for town).")
@click.option("--name", "display", help="Display name (default: the username).")
@click.option("--replace", is_flag=True, help="Replace an existing user (a new password, role…).")
def users_add(
    username: str,
    role: str,
    department: str | None,
    town: str | None,
    display: str | None,
    replace: bool,
) -> None:
    """Add a user who may sign in; the password is asked twice and never shown.

    HALLWATCH_USER_PASSWORD may give the password instead, for automation only.
    """
    path = current_settings().users_file
    try:
        check_details(username, role, department, town, display)
    except UsersError as e:
        usage_error(str(e))
    if username in _users(path) and not replace:
        fail(f"user {username} exists already: give --replace to replace it")
    password = read_password()
    try:
        check_password(password)
        add_user(
            path, username, name=display or username, role=role, password=password,
            department=department, town=town,
        )  # fmt: skip
    except UsersError as e:
        usage_error(str(e))
    unit = department or town
    console.print(
        f"user {safe(username)} ({safe(Role(role).label('en'))}"
        + (f", {safe(unit)}" if unit else "")
        + f") {'replaced' if replace else 'added'} in {safe(path)}",
        highlight=False,
    )


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per user.")
def users_list(as_json: bool) -> None:
    """Every user: username, name, role and unit (never a password or its hash)."""
    path = current_settings().users_file
    rows = [
        {
            "username": username,
            "name": entry.get("name"),
            "role": _roles(entry.get("roles")),
            "department": entry.get("department"),
            "town": entry.get("town"),
        }
        for username, entry in sorted(_users(path).items())
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"no users in {safe(path)} yet: add one with `hallwatch users add`")
        return
    table = Table("username", "name", "role", "department", "town", title=f"users ({len(rows)})")
    for r in rows:
        table.add_row(*(safe(r[k]) for k in ("username", "name", "role", "department", "town")))
    wide(120).print(table)


@users.command("remove")
@click.argument("username")
def users_remove(username: str) -> None:
    """Remove a user: they lose access on their next click in the dashboard."""
    path = current_settings().users_file
    try:
        removed = remove_user(path, username)
    except UsersError as e:
        usage_error(str(e))
    if not removed:
        fail(f"no user {username} in {path}")
    console.print(f"user {safe(username)} removed from {safe(path)}", highlight=False)
