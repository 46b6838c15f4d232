"""Signing in (工作人员登录): inspectors, department heads and town managers, from the users
file (bcrypt hashes, roles, units: ``hallwatch users``), with streamlit-authenticator.

Who is signed in is ``st.session_state["hallwatch_user"]`` (a ``User``); every page reads
it and nothing else. Each run re-reads the users file (it is small): a user removed from
it loses access on the next run, and a changed role or unit takes effect on the next run.
A sign-in lasts ``SIGN_IN_HOURS``, in the session and in its cookie (``hallwatch_auth``,
the library's JWT signed with a key derived from hallwatch's secret); after that, or with
a cookie that does not verify, the sign-in page says the sign-in has expired.
``MAX_LOGIN_ATTEMPTS`` wrong passwords for a username lock it for ``LOCK_MINUTES`` (the
library's ``max_login_attempts``, counted across the sessions of this process, since
every run hands the library a fresh copy of the file).

Two things are done around the library rather than by it: hallwatch reads the cookie
itself (``read_cookie``), since the library's reader raises on some forged tokens and
cannot tell an expired sign-in from none; and the cookie is written (or deleted) again
at the start of the run after a sign-in (or sign-out), since a browser component drawn
in a run that ends in a page switch may never reach the browser.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import streamlit as st
import streamlit_authenticator as stauth

from dashboard import context
from dashboard.i18n import lang, tr, word
from dashboard.services import User
from domain.vocabulary import Role

COOKIE_NAME = "hallwatch_auth"
SIGN_IN_HOURS = 12
SIGN_IN_SECONDS = SIGN_IN_HOURS * 3600
MAX_LOGIN_ATTEMPTS = 5
LOCK_MINUTES = 15
#: The library waits this long before its form so that a cookie component can load;
#: hallwatch reads the cookie from the request (``st.context.cookies``): no wait needed.
LOGIN_SLEEP_SECONDS = 0.0
STAFF_ROLES = (Role.INSPECTOR.value, Role.HEAD.value, Role.TOWN.value)

USER_KEY = "hallwatch_user"
SINCE_KEY = "hallwatch_signed_in_at"  # Unix time of the sign-in (wall clock)
NOTICE_KEY = "hallwatch_auth_notice"  # (zh, en): why the viewer was signed out
COOKIE_TODO_KEY = "hallwatch_cookie_todo"  # "set" | "delete", done early in the next run
_RUN_KEY = "hallwatch_auth_run"
#: The library's session keys, and its flag that the request's cookie no longer signs in.
_LIBRARY_KEYS = ("name", "username", "authentication_status", "email", "roles")
_LIBRARY_SIGNED_OUT = "logout"

EXPIRED = ("登录已过期，请重新登录。", "Your sign-in has expired; please sign in again.")
GONE = (
    "您的账号已被移除或停用，请联系管理员。",
    "Your account has been removed or disabled; please ask an administrator.",
)
SIGNED_OUT = ("您已退出登录。", "You have signed out.")
UNREADABLE = (
    "用户文件无法读取，暂时无法登录，请联系管理员。",
    "The users file cannot be read, so nobody can sign in; please ask an administrator.",
)
NO_USERS = (
    "尚无工作人员账号：管理员可用 `hallwatch users add` 添加。",
    "There are no staff accounts yet: an administrator adds them with `hallwatch users add`.",
)
WRONG = ("用户名或密码错误。", "Wrong username or password.")
LOCKED = (
    f"密码错误次数过多，该账号已锁定 {LOCK_MINUTES} 分钟，请稍后再试。",
    f"Too many wrong passwords: this account is locked for {LOCK_MINUTES} minutes.",
)


# --------------------------------------------------------------------------- the cookie


@dataclass(frozen=True)
class CookieCheck:
    """What a sign-in cookie says: ``absent``, ``valid`` (whose, since when), ``expired``
    or ``invalid`` (forged, tampered with, signed with another key or algorithm)."""

    status: str
    username: str = ""
    signed_in_at: float = 0.0


def read_cookie(token: object, key: str, now: float) -> CookieCheck:
    """Check a sign-in cookie in the library's format (an HS256 JWT of ``username`` and
    ``exp_date``, a Unix time) against ``key`` at ``now``; never raises."""
    if not isinstance(token, str) or not token:
        return CookieCheck("absent")
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return CookieCheck("invalid")
    username, expires = claims.get("username"), claims.get("exp_date")
    if (
        not isinstance(username, str)
        or not username
        or isinstance(expires, bool)
        or not isinstance(expires, int | float)
        or not math.isfinite(expires)
        or expires > now + SIGN_IN_SECONDS + 60  # a longer sign-in than hallwatch gives
    ):
        return CookieCheck("invalid")
    if expires <= now:
        return CookieCheck("expired", username)
    return CookieCheck("valid", username, expires - SIGN_IN_SECONDS)


# --------------------------------------------------------------------------- users


def user_of(username: str, entry: Mapping[str, Any] | None) -> User | None:
    """The user a users-file entry signs in, or None when it cannot sign in (no entry, not
    exactly one staff role, a head without a department, a town manager without a town)."""
    if entry is None:
        return None
    roles = entry.get("roles")
    role = roles[0] if isinstance(roles, list) and len(roles) == 1 else None
    if role not in STAFF_ROLES:
        return None
    department = str(entry.get("department") or "").strip() or None
    town = str(entry.get("town") or "").strip() or None
    name = str(entry.get("name") or username)
    if role == Role.HEAD.value:
        return User(username, name, role, department=department) if department else None
    if role == Role.TOWN.value:
        return User(username, name, role, town=town) if town else None
    return User(username, name, role)


class _Failures:
    """Wrong passwords per username across the sessions of this process, forgotten
    ``LOCK_MINUTES`` after the last one or at a successful sign-in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_user: dict[str, tuple[int, float]] = {}

    def counts(self, now: float) -> dict[str, int]:
        with self._lock:
            for username, (_, last) in list(self._by_user.items()):
                if now - last > LOCK_MINUTES * 60:
                    del self._by_user[username]
            return {username: n for username, (n, _) in self._by_user.items()}

    def record(self, before: Mapping[str, int], users: Mapping[str, Any], now: float) -> None:
        """Take in what the library counted in this run's copy of the users."""
        with self._lock:
            for username, entry in users.items():
                after = entry.get("failed_login_attempts")
                if not isinstance(after, int):
                    continue
                was = before.get(username, 0)
                if after == 0 and was:
                    self._by_user.pop(username, None)  # signed in: the count starts again
                elif after > was:
                    n, _ = self._by_user.get(username, (0, now))
                    self._by_user[username] = (n + after - was, now)


_FAILURES = _Failures()


@dataclass
class _Run:
    """This run's users (re-read from the file; None when it cannot be read) and, once a
    widget needs it, the library's authenticator on a copy of them."""

    users: dict[str, dict[str, Any]] | None
    auth: Any = None
    credentials: dict[str, Any] = field(default_factory=dict)
    failures_before: dict[str, int] = field(default_factory=dict)

    def entry(self, username: str) -> dict[str, Any] | None:
        return (self.users or {}).get(username)


def _read_users() -> dict[str, dict[str, Any]] | None:
    try:
        users = context.services().users()
    except (OSError, ValueError):  # infra.users.UsersError is a ValueError
        return None
    return {str(k).lower(): dict(v) for k, v in users.items() if isinstance(v, Mapping)}


def _this_run() -> _Run:
    run = st.session_state.get(_RUN_KEY)
    if not isinstance(run, _Run):
        run = st.session_state[_RUN_KEY] = _Run(_read_users())
    return run


def _authenticator(run: _Run) -> Any:
    """The library's authenticator for this run (built once: it draws the cookie
    component), on a deep copy of the users (it changes what it is given) carrying the
    process's count of wrong passwords."""
    if run.auth is None:
        run.failures_before = _FAILURES.counts(time.time())
        users = copy.deepcopy(run.users or {})
        for username, n in run.failures_before.items():
            if username in users:
                users[username]["failed_login_attempts"] = n
        run.credentials = {"usernames": users}
        run.auth = stauth.Authenticate(
            run.credentials,
            COOKIE_NAME,
            context.services().cookie_key(),
            SIGN_IN_HOURS / 24,
            auto_hash=False,  # the file holds bcrypt hashes only
            login_sleep_time=LOGIN_SLEEP_SECONDS,
        )
    return run.auth


# --------------------------------------------------------------------------- session


def _lang_params() -> dict[str, str]:
    return {"lang": lang()} if lang() != "zh" else {}


def _page(user: User | None, url: str | None = None) -> st.Page:
    """A page of ``user``'s navigation: the default one, or the one at ``url``."""
    from dashboard.app import pages_for  # the routing is app.py's (which imports this module)

    pages = pages_for(user)
    return next((p for p in pages if p.url_path == url), pages[0]) if url else pages[0]


def _hold(user: User, since: float) -> None:
    """``user`` is signed in (for the pages, and for the library's widgets)."""
    st.session_state[USER_KEY] = user
    st.session_state[SINCE_KEY] = since
    st.session_state["name"] = user.name
    st.session_state["username"] = user.username
    st.session_state["roles"] = [user.role]
    st.session_state["authentication_status"] = True


def _forget(notice: tuple[str, str] | None) -> None:
    """Nobody is signed in any more; the cookie goes at the start of the next run."""
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop(SINCE_KEY, None)
    for key in _LIBRARY_KEYS:
        st.session_state[key] = None
    st.session_state[_LIBRARY_SIGNED_OUT] = True
    st.session_state[COOKIE_TODO_KEY] = "delete"
    if notice is not None:
        st.session_state[NOTICE_KEY] = notice


def _end(notice: tuple[str, str]) -> None:
    """Sign the viewer out and show the sign-in page, saying why."""
    _forget(notice)
    st.switch_page(_page(None, "signin"), query_params=_lang_params())


def _signed_in_at(now: float) -> float:
    """When the session's sign-in began (Unix time); ``now`` for a user signed in by
    other means than the form or the cookie (the tests' fixture)."""
    since = st.session_state.get(SINCE_KEY)
    if isinstance(since, bool) or not isinstance(since, int | float):
        return now
    return float(since)


def _expired(since: float, now: float) -> bool:
    """Whether a sign-in that began at ``since`` is over at ``now`` (or claims the future)."""
    return not now - SIGN_IN_SECONDS <= since <= now + 60


def _still_signed_in(run: _Run, user: User) -> User | None:
    """The session's user as the users file has it now; None (and the sign-in page) when
    the sign-in has expired or the file no longer lets them in."""
    now = time.time()
    since = _signed_in_at(now)
    if _expired(since, now):
        _end(EXPIRED)
        return None
    fresh = user_of(user.username, run.entry(user.username))
    if fresh is None:
        _end(GONE)
        return None
    _hold(fresh, since)
    return fresh


def _from_cookie(run: _Run) -> User | None:
    """The user the request's sign-in cookie names, when it verifies and the users file
    still lets them in; an expired or forged cookie leaves a notice and is deleted."""
    if st.session_state.get(_LIBRARY_SIGNED_OUT):
        return None  # signed out (or the form was shown) in this session
    raw = st.context.cookies.get(COOKIE_NAME)
    check = read_cookie(raw, context.services().cookie_key(), time.time())
    if check.status == "absent":
        return None
    user = user_of(check.username, run.entry(check.username)) if check.status == "valid" else None
    if user is None:
        _forget(GONE if check.status == "valid" else EXPIRED)
        return None
    _hold(user, check.signed_in_at)
    return user


def _cookie_chores(run: _Run, user: User | None) -> None:
    """Write the cookie after a sign-in, delete it after a sign-out, in a run that ends
    normally (so the browser receives the component)."""
    todo = st.session_state.pop(COOKIE_TODO_KEY, None)
    if todo == "set" and user is not None:
        _authenticator(run).cookie_controller.set_cookie()
    elif todo == "delete":
        _authenticator(run).cookie_controller.delete_cookie()


def current_user() -> User | None:
    """The signed-in user of this run, checked against the users file as it is now."""
    run = st.session_state[_RUN_KEY] = _Run(_read_users())
    if run.users is None:
        st.session_state[NOTICE_KEY] = UNREADABLE
        return None  # closed: nobody is signed in while the file cannot be read
    if st.session_state.get(NOTICE_KEY) == UNREADABLE:
        del st.session_state[NOTICE_KEY]
    held = st.session_state.get(USER_KEY)
    user = _still_signed_in(run, held) if isinstance(held, User) else _from_cookie(run)
    _cookie_chores(run, user)
    return user


def recheck() -> None:
    """For a part of a page that reruns on its own (``st.fragment(run_every=…)``), which
    does not pass through ``current_user``: when the signed-in user has lost access since
    the last full run (removed from the users file, role or unit changed, sign-in
    expired), rerun the whole app, which signs them out and shows the sign-in page."""
    user = st.session_state.get(USER_KEY)
    users = _read_users()
    now = time.time()
    if (
        not isinstance(user, User)
        or users is None
        or _expired(_signed_in_at(now), now)
        or user_of(user.username, users.get(user.username)) != user
    ):
        st.rerun(scope="app")


# --------------------------------------------------------------------------- widgets


def _fields() -> dict[str, str]:
    return {
        "Form name": tr("请输入用户名和密码", "Your username and password"),
        "Username": tr("用户名", "Username"),
        "Password": tr("密码", "Password"),
        "Login": tr("登录", "Sign in"),
    }


def _login_form(run: _Run) -> None:
    """The library's form; a wrong password or a locked account says so."""
    auth = _authenticator(run)
    st.session_state[_LIBRARY_SIGNED_OUT] = True  # the cookie was read above (read_cookie)
    if st.session_state.get("authentication_status"):
        for key in _LIBRARY_KEYS:  # nobody is signed in here, whatever the library kept
            st.session_state[key] = None
    try:
        auth.login(
            location="main",
            fields=_fields(),
            max_login_attempts=MAX_LOGIN_ATTEMPTS,
            clear_on_submit=True,
            key="hallwatch_sign_in",
        )
    except stauth.LoginError as e:
        st.error(tr(*LOCKED) if "attempts" in str(e) else tr("无法登录。", "Cannot sign in."))
        return
    finally:
        _FAILURES.record(run.failures_before, run.credentials.get("usernames", {}), time.time())
    status = st.session_state.get("authentication_status")
    if status is False:
        st.error(tr(*WRONG))
    elif status:
        _signed_in(run)


def _signed_in(run: _Run) -> None:
    """The form accepted the password: hold the user, write the cookie next run, and go
    to their first page."""
    username = str(st.session_state.get("username") or "")
    user = user_of(username, run.entry(username))
    if user is None:  # an entry without a staff role or unit
        _forget(GONE)
        st.error(tr(*GONE))
        return
    _hold(user, time.time())
    st.session_state.pop(NOTICE_KEY, None)
    st.session_state[COOKIE_TODO_KEY] = "set"
    st.switch_page(_page(user), query_params=_lang_params())


def sign_in_page() -> None:
    """The staff sign-in page: why the viewer was signed out, if they were, and the form."""
    st.title(tr("工作人员登录", "Staff sign-in"))
    notice = st.session_state.get(NOTICE_KEY)
    if isinstance(notice, tuple) and len(notice) == 2:
        st.warning(tr(*notice))
    run = _this_run()
    if run.users is None:
        return  # the notice said why
    if not run.users:
        st.info(tr(*NO_USERS))
        return
    _login_form(run)


def _plain(text: str) -> str:
    """``text`` shown literally in Markdown (a name from the users file)."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|~$" else c for c in text)


def sign_out_button(user: User) -> None:
    """Who is signed in, and the sign-out button, in the sidebar."""
    unit = user.department or user.town
    st.sidebar.caption(
        _plain(f"{user.name} · {word(user.role, Role)}" + (f" · {unit}" if unit else ""))
    )
    if st.sidebar.button(tr("退出登录", "Sign out"), key="hallwatch_sign_out"):
        if st.session_state.get("authentication_status"):
            _authenticator(_this_run()).logout(location="unrendered")  # the library's sign-out
        _forget(SIGNED_OUT)
        st.switch_page(_page(None, "signin"), query_params=_lang_params())
