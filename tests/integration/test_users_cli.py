"""``hallwatch users add|list|remove`` run as a separate process: the password given on
standard input twice, never shown and never stored in clear; refusals with the one
exit-code rule (2 usage, 1 refused)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import bcrypt
import orjson
import pytest
import yaml

HALLWATCH = [sys.executable, "-m", "infra.cli"]
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "tea-kettle 42 长城"


def run(
    tmp: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HALLWATCH_USERS_FILE", "HALLWATCH_USER_PASSWORD")
    }
    full_env.update(
        HALLWATCH_DATA_DIR=str(tmp / "data"), HALLWATCH_SECRET_KEY="ab" * 32, COLUMNS="200"
    )
    full_env.update(env or {})
    return subprocess.run(
        [*HALLWATCH, "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        cwd=ROOT,
        start_new_session=True,  # no controlling terminal: nothing can prompt on one
    )


def twice(password: str) -> str:
    return f"{password}\n{password}\n"


def users_file(tmp: Path) -> Path:
    return tmp / "data" / "users.yaml"


def stored_hash(tmp: Path, username: str) -> bytes:
    data = yaml.safe_load(users_file(tmp).read_text(encoding="utf-8"))
    return str(data["credentials"]["usernames"][username]["password"]).encode()


def test_add_list_remove(tmp_path: Path) -> None:
    added = run(
        tmp_path, "add", "lin", "--role", "head", "--department", "市场监管局", "--name", "林部长",
        stdin=twice(PASSWORD),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "lin" in added.stdout and "市场监管局" in added.stdout
    town = run(tmp_path, "add", "he", "--role", "town", "--town", "南城街道", stdin=twice(PASSWORD))
    assert town.returncode == 0, town.stderr
    chen = run(tmp_path, "add", "chen", "--role", "inspector", stdin=twice(PASSWORD))
    assert chen.returncode == 0, chen.stderr

    listed = run(tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert orjson.loads(listed.stdout) == [
        {"username": "chen", "name": "chen", "role": "inspector", "department": None, "town": None},
        {"username": "he", "name": "he", "role": "town", "department": None, "town": "南城街道"},
        {"username": "lin", "name": "林部长", "role": "head", "department": "市场监管局",
         "town": None},
    ]  # fmt: skip
    table = run(tmp_path, "list")
    assert table.returncode == 0 and "林部长" in table.stdout and "南城街道" in table.stdout

    removed = run(tmp_path, "remove", "he")
    assert removed.returncode == 0, removed.stderr
    assert [u["username"] for u in orjson.loads(run(tmp_path, "list", "--json").stdout)] == [
        "chen",
        "lin",
    ]
    again = run(tmp_path, "remove", "he")
    assert again.returncode == 1 and "no user he" in again.stderr


def test_the_password_is_never_shown_nor_stored_in_clear(tmp_path: Path) -> None:
    added = run(
        tmp_path, "add", "lin", "--role", "head", "--department", "市场监管局",
        stdin=twice(PASSWORD),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = [run(tmp_path, "list"), run(tmp_path, "list", "--json")]
    for out in (added, *listed):
        assert PASSWORD not in out.stdout + out.stderr
        assert "$2b$" not in out.stdout + out.stderr  # nor its hash
    path = users_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert PASSWORD not in text and "tea-kettle" not in text
    stored = stored_hash(tmp_path, "lin")
    assert stored.startswith(b"$2b$")
    assert bcrypt.checkpw(PASSWORD.encode(), stored)
    assert not bcrypt.checkpw(b"another password", stored)
    assert not list(path.parent.glob(".users-*"))  # no temporary file left behind


def test_the_password_may_come_from_the_environment_for_automation(tmp_path: Path) -> None:
    out = run(
        tmp_path, "add", "chen", "--role", "inspector",
        env={"HALLWATCH_USER_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert PASSWORD not in out.stdout + out.stderr
    assert bcrypt.checkpw(PASSWORD.encode(), stored_hash(tmp_path, "chen"))


@pytest.mark.parametrize(
    ("args", "stdin", "names"),
    [
        (["add", "x1", "--role", "boss"], twice(PASSWORD), "role"),
        (["add", "x1", "--role", "head"], twice(PASSWORD), "--department"),
        (["add", "x1", "--role", "town"], twice(PASSWORD), "--town"),
        (["add", "x1", "--role", "head", "--department", "教育局", "--town", "南城街道"],
         twice(PASSWORD), "--town"),
        (["add", "x1", "--role", "inspector", "--department", "教育局"], twice(PASSWORD),
         "inspector"),
        (["add", "x1", "--role", "inspector"], twice("short"), "8 characters"),
        (["add", "x1", "--role", "inspector"], twice(" " + PASSWORD), "space"),
        (["add", "x1", "--role", "inspector"], twice("长" * 30), "72 bytes"),
        (["add", "x1", "--role", "inspector"], f"{PASSWORD}\n{PASSWORD}x\n", "differ"),
        (["add", "x1", "--role", "inspector"], "", "no password"),
        (["add", "x1", "--role", "inspector"], f"{PASSWORD}\n", "twice"),
        (["add", "Lin", "--role", "inspector"], twice(PASSWORD), "username"),
        (["add", "a", "--role", "inspector"], twice(PASSWORD), "username"),
        (["add", "lin'; --", "--role", "inspector"], twice(PASSWORD), "username"),
        (["add", "../etc", "--role", "inspector"], twice(PASSWORD), "username"),
        (["add", "x1", "--role", "head", "--department", "教\x1b[31m育局"], twice(PASSWORD),
         "control characters"),
        (["add", "x1"], twice(PASSWORD), "--role"),
        (["add", "x1", "--role", "inspector", "--password", PASSWORD], "", "--password"),
    ],
    ids=[
        "bad-role", "head-without-department", "town-without-town", "head-with-a-town",
        "inspector-with-a-unit", "short-password", "password-with-a-space",
        "password-over-72-bytes", "passwords-differ", "no-password", "password-once",
        "upper-case-username", "one-letter-username", "quoted-username", "path-username",
        "control-character-unit", "no-role", "password-as-an-option",
    ],
)  # fmt: skip
def test_bad_arguments_are_usage_errors_naming_the_problem(
    tmp_path: Path, args: list[str], stdin: str, names: str
) -> None:
    out = run(tmp_path, *args, stdin=stdin)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert names in " ".join(out.stderr.split()), out.stderr
    assert not users_file(tmp_path).exists()
    assert PASSWORD not in out.stdout + out.stderr


def test_an_existing_user_is_replaced_only_when_asked(tmp_path: Path) -> None:
    first = run(tmp_path, "add", "lin", "--role", "inspector", stdin=twice(PASSWORD))
    assert first.returncode == 0, first.stderr
    again = run(
        tmp_path, "add", "lin", "--role", "head", "--department", "教育局", stdin=twice(PASSWORD)
    )
    assert again.returncode == 1 and "--replace" in again.stderr
    replaced = run(
        tmp_path, "add", "lin", "--role", "head", "--department", "教育局", "--replace",
        stdin=twice("a new password"),
    )  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    (user,) = orjson.loads(run(tmp_path, "list", "--json").stdout)
    assert user["role"] == "head" and user["department"] == "教育局"
    assert bcrypt.checkpw(b"a new password", stored_hash(tmp_path, "lin"))


def test_an_unreadable_users_file_is_a_usage_error(tmp_path: Path) -> None:
    users_file(tmp_path).parent.mkdir(parents=True)
    users_file(tmp_path).write_text("credentials: [unclosed\n", encoding="utf-8")
    for args in (["list"], ["remove", "lin"]):
        out = run(tmp_path, *args)
        assert out.returncode == 2 and "users file" in out.stderr, out.stderr
    assert run(tmp_path, "list", "--json").returncode == 2


def test_an_empty_list_says_so(tmp_path: Path) -> None:
    out = run(tmp_path, "list")
    assert out.returncode == 0 and "no users" in out.stdout
    assert orjson.loads(run(tmp_path, "list", "--json").stdout) == []
