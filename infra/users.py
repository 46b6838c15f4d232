"""The dashboard's users file: who may sign in, with which role and unit.

A YAML file (``<data>/users.yaml`` unless ``HALLWATCH_USERS_FILE`` says otherwise) in
streamlit-authenticator's credentials layout: each username with a display name, a
bcrypt hash of the password (never the password), its role and, for a department head
or a town manager, the unit it is bound to. Written owner-only (0600), replaced
atomically; ``hallwatch users`` manages it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from domain.vocabulary import Role

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
MIN_PASSWORD = 8
#: bcrypt reads at most 72 bytes of a password.
MAX_PASSWORD_BYTES = 72
#: The longest display name, department or town the file takes.
MAX_TEXT = 100
STAFF_ROLES = (Role.INSPECTOR.value, Role.HEAD.value, Role.TOWN.value)


class UsersError(ValueError):
    """The users file or a user's details cannot be used; the message says why."""


def read_users(path: Path) -> dict[str, dict[str, Any]]:
    """Every user by username; an absent file has none."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UsersError(f"users file {path}: cannot be read ({e})") from None
    users = (data.get("credentials") or {}).get("usernames") or {} if isinstance(data, dict) else {}
    if not isinstance(users, dict):
        raise UsersError(f"users file {path}: credentials.usernames is not a mapping")
    return {str(k): dict(v) for k, v in users.items() if isinstance(v, dict)}


def _write(path: Path, users: Mapping[str, Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = yaml.safe_dump(
        {"credentials": {"usernames": {k: dict(v) for k, v in users.items()}}},
        allow_unicode=True,
        sort_keys=True,
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_details(
    username: str,
    role: str,
    department: str | None,
    town: str | None,
    name: str | None = None,
) -> None:
    """Refuse a user who cannot sign in or would see the wrong unit, naming the problem."""
    if not USERNAME.fullmatch(username):
        raise UsersError(
            f"username {username[:40]!r}: 2-32 characters, lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    if role not in STAFF_ROLES:
        raise UsersError(f"role {role[:40]!r}: choose one of {', '.join(STAFF_ROLES)}")
    if role == Role.HEAD and not (department or "").strip():
        raise UsersError("a department head needs --department")
    if role == Role.TOWN and not (town or "").strip():
        raise UsersError("a town manager needs --town")
    if role == Role.INSPECTOR and (department or town):
        raise UsersError("an inspector sees every unit: give no --department or --town")
    if role == Role.HEAD and town:
        raise UsersError("a department head is bound to a department: give no --town")
    if role == Role.TOWN and department:
        raise UsersError("a town manager is bound to a town: give no --department")
    for what, value in (("department", department), ("town", town), ("name", name)):
        if value is not None and (len(value) > MAX_TEXT or not value.isprintable()):
            raise UsersError(
                f"the {what}: at most {MAX_TEXT} printable characters (no control characters)"
            )


def check_password(password: str) -> None:
    """Refuse a password the sign-in form could not take, naming the problem."""
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise UsersError(f"the password may have at most {MAX_PASSWORD_BYTES} bytes (bcrypt)")
    if password != password.strip():
        raise UsersError(
            "the password may not start or end with a space (the sign-in form trims them)"
        )


def check_user(
    username: str, role: str, department: str | None, town: str | None, password: str
) -> None:
    """Refuse what cannot sign in or would see the wrong unit, naming the problem."""
    check_details(username, role, department, town)
    check_password(password)


def add_user(
    path: Path,
    username: str,
    *,
    name: str,
    role: str,
    password: str,
    department: str | None = None,
    town: str | None = None,
) -> None:
    """Add (or replace) a user, its password stored as a bcrypt hash."""
    check_details(username, role, department, town, name)
    check_password(password)
    users = read_users(path)
    users[username] = {
        "name": name.strip() or username,
        "password": bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode(),
        "roles": [role],
        "department": (department or "").strip() or None,
        "town": (town or "").strip() or None,
    }
    _write(path, users)


def remove_user(path: Path, username: str) -> bool:
    """Remove a user; False when there was none by that name."""
    users = read_users(path)
    if username not in users:
        return False
    del users[username]
    _write(path, users)
    return True
