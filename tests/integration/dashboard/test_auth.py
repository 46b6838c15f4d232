"""Signing in to the dashboard: the real form (streamlit-authenticator) on the hall's users
file, each role landing on its first page, wrong passwords, the lock-out, an expired
sign-in, a user removed or changed in the file, signing out, and the sign-in cookie.

AppTest cannot send cookies with a request (its client is not a browser), so a cookie
coming back from a browser is tested on ``read_cookie`` directly, with the very token the
library wrote during a sign-in run by AppTest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import orjson
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth
from dashboard.services import User
from infra.dashboard.services import HallwatchServices
from infra.users import add_user, remove_user
from tests.dashboard_support import HEAD, INSPECTOR, PASSWORD, TOWN, Hall, page_test

SIGN_IN, TRACKER, BOARD, UNIT = "工作人员登录", "办件查询", "监察大屏", "本单位"


def _app() -> None:
    """The whole app as a browser runs it. ``go_to`` in the session state stands for a click
    on the sign-in link of the navigation (AppTest cannot click st.navigation's links);
    the navigation's pages and the page that ran are noted for the test."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from dashboard import app, auth
    from infra.dashboard.services import shared_services

    if st.session_state.pop("go_to", None) == "signin":
        signin = st.Page(auth.sign_in_page, url_path="signin")
        st.switch_page(signin, query_params=st.query_params.to_dict())
    try:
        app.run(shared_services())
    finally:
        ctx = get_script_run_ctx()
        pages = ctx.pages_manager.get_pages() if ctx else {}
        st.session_state["nav"] = [p["page_name"] for p in pages.values()]
        ran = pages.get(ctx.page_script_hash) if ctx else None
        st.session_state["landed"] = ran["page_name"] if ran else None


def whole_app() -> AppTest:
    return AppTest.from_function(_app, default_timeout=60)


def _widget(widgets: Any, label: str) -> Any:
    found = [w for w in widgets if w.label == label]
    assert found, (label, [w.label for w in widgets])
    return found[0]


def open_sign_in(at: AppTest) -> AppTest:
    at.session_state["go_to"] = "signin"
    at.run()
    assert not at.exception, at.exception
    assert at.session_state.get("landed") in (SIGN_IN, "Staff sign-in")
    return at


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    """Type into the sign-in form and press its button."""
    open_sign_in(at)
    _widget(at.text_input, "用户名").input(username)
    _widget(at.text_input, "密码").input(password)
    _widget(at.button, "登录").click()
    at.run()
    assert not at.exception, at.exception
    return at


def signed_in(at: AppTest) -> User | None:
    user = at.session_state.get("hallwatch_user")
    assert user is None or isinstance(user, User)
    return user


def cookie_calls(at: AppTest) -> list[dict[str, Any]]:
    """What the run asked the browser's cookie component to do (method, cookie, value)."""
    calls = []
    for node in at.get("component_instance"):
        args = orjson.loads(node.proto.json_args)
        if args.get("method") in ("set", "delete"):
            calls.append(args)
    return calls


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


@pytest.fixture
def extra_user(dashboard: Hall) -> Iterator[Any]:
    """Adds users of its own to the hall's users file, and removes them afterwards."""
    added: list[str] = []

    def add(username: str, role: str, **unit: str) -> str:
        add_user(
            dashboard.settings.users_file, username, name=username, role=role,
            password=PASSWORD, **unit,
        )  # fmt: skip
        added.append(username)
        return username

    yield add
    for username in added:
        remove_user(dashboard.settings.users_file, username)


def test_nobody_signed_in_sees_the_tracker_and_may_sign_in(dashboard: Hall) -> None:
    at = page_test(None).run()
    assert not at.exception, at.exception
    assert signed_in(at) is None
    at = whole_app().run()
    assert not at.exception, at.exception
    assert at.session_state.get("landed") == TRACKER
    assert at.session_state.get("nav") == [TRACKER, SIGN_IN]
    open_sign_in(at)
    assert [t.value for t in at.title] == [SIGN_IN]
    assert {t.label for t in at.text_input} >= {"用户名", "密码"}
    assert signed_in(at) is None


@pytest.mark.parametrize(
    ("user", "first_page"), [(INSPECTOR, BOARD), (HEAD, UNIT), (TOWN, UNIT)], ids=str
)
def test_each_role_signs_in_through_the_form_and_lands_on_its_first_page(
    dashboard: Hall, user: User, first_page: str
) -> None:
    at = sign_in(whole_app(), user.username, PASSWORD)
    assert signed_in(at) == user
    assert at.session_state.get("landed") == first_page
    nav = at.session_state.get("nav")
    assert SIGN_IN not in nav
    assert (BOARD in nav) == (user.role == "inspector"), nav
    assert at.session_state.get("authentication_status") is True
    # the run after the sign-in writes the library's cookie, naming the user for 12 hours
    (call,) = [c for c in cookie_calls(at) if c["method"] == "set"]
    assert call["cookie"] == auth.COOKIE_NAME
    key = HallwatchServices(dashboard.settings).cookie_key()
    check = auth.read_cookie(call["value"], key, time.time())
    assert check.status == "valid" and check.username == user.username
    assert abs(check.signed_in_at - time.time()) < 60
    # and the next run keeps them signed in without writing it again
    at.run()
    assert not at.exception, at.exception
    assert signed_in(at) == user and cookie_calls(at) == []


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("lin", "not the password"),
        ("lin", PASSWORD.upper()),
        ("nobody", PASSWORD),
        ("lin' OR '1'='1", "' OR '1'='1"),
        ("../../etc/passwd", "\x00\x1b[31m"),
        ("林部长", "密码" * 50),
    ],
)
def test_a_wrong_password_or_username_shows_an_error_and_signs_nothing_in(
    dashboard: Hall, username: str, password: str
) -> None:
    at = sign_in(whole_app(), username, password)
    assert "用户名或密码错误。" in [e.value for e in at.error]
    assert signed_in(at) is None
    assert at.session_state.get("landed") == SIGN_IN
    assert [c for c in cookie_calls(at) if c["method"] == "set"] == []


def test_too_many_wrong_passwords_lock_the_account_in_every_session(
    dashboard: Hall, extra_user: Any
) -> None:
    username = extra_user("lock.test", "inspector")
    at = whole_app()
    for _ in range(auth.MAX_LOGIN_ATTEMPTS):
        sign_in(at, username, "wrong password")
        assert "用户名或密码错误。" in [e.value for e in at.error]
    sign_in(at, username, PASSWORD)  # the right password, too late
    assert signed_in(at) is None
    assert any("锁定" in e.value for e in at.error), [e.value for e in at.error]
    other = sign_in(whole_app(), username, PASSWORD)  # another browser: still locked
    assert signed_in(other) is None
    assert any("锁定" in e.value for e in other.error), [e.value for e in other.error]
    # another user is not affected
    assert signed_in(sign_in(whole_app(), INSPECTOR.username, PASSWORD)) == INSPECTOR


def test_an_expired_sign_in_shows_the_sign_in_page_saying_so(dashboard: Hall) -> None:
    at = sign_in(whole_app(), INSPECTOR.username, PASSWORD)
    assert signed_in(at) == INSPECTOR
    at.session_state[auth.SINCE_KEY] = time.time() - auth.SIGN_IN_SECONDS - 1
    at.run()
    assert not at.exception, at.exception
    assert signed_in(at) is None
    assert at.session_state.get("landed") == SIGN_IN
    assert "登录已过期，请重新登录。" in warnings(at)
    assert [c["method"] for c in cookie_calls(at)] == ["delete"]
    assert at.session_state.get("nav") == [TRACKER, SIGN_IN]


def test_the_form_and_the_expired_message_are_in_english_too(dashboard: Hall) -> None:
    at = whole_app()
    at.query_params["lang"] = "en"
    open_sign_in(at)
    assert [t.value for t in at.title] == ["Staff sign-in"]
    _widget(at.text_input, "Username").input(HEAD.username)
    _widget(at.text_input, "Password").input(PASSWORD)
    _widget(at.button, "Sign in").click()
    at.run()
    assert not at.exception, at.exception
    assert signed_in(at) == HEAD
    assert at.session_state.get("landed") == "My unit"
    # a session signed in twelve hours ago (a new AppTest: the unit page's widgets format
    # their labels in the URL's language, which AppTest cannot replay outside a run)
    old = whole_app()
    old.query_params["lang"] = "en"
    old.session_state["hallwatch_user"] = HEAD
    old.session_state[auth.SINCE_KEY] = time.time() - auth.SIGN_IN_SECONDS - 1
    old.run()
    assert not old.exception, old.exception
    assert signed_in(old) is None
    assert old.session_state.get("landed") == "Staff sign-in"
    assert "Your sign-in has expired; please sign in again." in warnings(old)


def test_a_user_removed_from_the_file_loses_access_on_the_next_run(
    dashboard: Hall, extra_user: Any
) -> None:
    username = extra_user("gone.head", "head", department=HEAD.department)
    at = sign_in(whole_app(), username, PASSWORD)
    assert signed_in(at) == User(username, username, "head", department=HEAD.department)
    remove_user(dashboard.settings.users_file, username)
    at.run()
    assert not at.exception, at.exception
    assert signed_in(at) is None
    assert at.session_state.get("landed") == SIGN_IN
    assert any("已被移除" in w for w in warnings(at)), warnings(at)
    # nor can they sign in again
    sign_in(at, username, PASSWORD)
    assert signed_in(at) is None


def test_a_changed_role_or_unit_takes_effect_on_the_next_run(
    dashboard: Hall, extra_user: Any
) -> None:
    username = extra_user("moved.user", "town", town=TOWN.town)
    at = sign_in(whole_app(), username, PASSWORD)
    assert signed_in(at) == User(username, username, "town", town=TOWN.town)
    extra_user(username, "head", department="教育局")  # replaced in the file
    at.run()
    assert not at.exception, at.exception
    user = signed_in(at)
    assert user == User(username, username, "head", department="教育局")
    assert user.scope.allows("教育局", TOWN.town) and not user.scope.allows("民政局", TOWN.town)


def test_a_user_set_by_the_test_fixture_is_checked_against_the_file_too(dashboard: Hall) -> None:
    at = page_test(None, user=HEAD).run()
    assert not at.exception, at.exception
    assert signed_in(at) == HEAD
    at = page_test(None, user=User("intruder", "冒充者", "inspector")).run()
    assert not at.exception, at.exception
    assert signed_in(at) is None


def test_signing_out_ends_the_session_and_deletes_the_cookie(dashboard: Hall) -> None:
    at = sign_in(whole_app(), HEAD.username, PASSWORD)
    assert signed_in(at) == HEAD
    _widget(at.sidebar.button, "退出登录").click()
    at.run()
    assert not at.exception, at.exception
    assert signed_in(at) is None
    assert at.session_state.get("landed") == SIGN_IN
    assert "您已退出登录。" in warnings(at)
    assert "delete" in [c["method"] for c in cookie_calls(at)]
    at.run()
    assert signed_in(at) is None


def test_an_unreadable_users_file_lets_nobody_in_and_says_so(dashboard: Hall) -> None:
    at = sign_in(whole_app(), INSPECTOR.username, PASSWORD)
    assert signed_in(at) == INSPECTOR
    path = dashboard.settings.users_file
    kept = path.read_bytes()
    try:
        path.write_text("credentials: [unclosed\n", encoding="utf-8")
        at.run()
        assert not at.exception, at.exception
        assert at.session_state.get("nav") == [TRACKER, SIGN_IN]
        open_sign_in(at)
        assert any("用户文件无法读取" in w for w in warnings(at)), warnings(at)
        assert not at.text_input  # no form while nobody can be checked
    finally:
        path.write_bytes(kept)
    at.run()  # the file is back: the session's sign-in holds again
    assert not at.exception, at.exception
    assert signed_in(at) == INSPECTOR


# --- the cookie, as a browser would send it back (AppTest cannot) -----------------------


def _token(at: AppTest) -> str:
    (call,) = [c for c in cookie_calls(at) if c["method"] == "set"]
    return str(call["value"])


@pytest.fixture(scope="module")
def written_cookie(hall: Hall) -> tuple[str, str]:
    """The cookie the library wrote when the head signed in, and the key that signs it."""
    from tests.dashboard_support import dashboard_env

    with dashboard_env(hall):
        at = sign_in(whole_app(), HEAD.username, PASSWORD)
        return _token(at), HallwatchServices(hall.settings).cookie_key()


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_the_cookie_the_library_wrote_is_read_back_until_it_expires(
    written_cookie: tuple[str, str],
) -> None:
    token, key = written_cookie
    now = time.time()
    assert auth.read_cookie(token, key, now).status == "valid"
    assert auth.read_cookie(token, key, now).username == HEAD.username
    expires = _claims(token)["exp_date"]
    assert auth.SIGN_IN_SECONDS - 120 < expires - now <= auth.SIGN_IN_SECONDS
    assert auth.read_cookie(token, key, expires + 1) == auth.CookieCheck("expired", HEAD.username)


def _forged(token: str, key: str) -> dict[str, object]:
    claims = _claims(token)
    far = time.time() + 3600
    head, body, sig = token.split(".")
    return {
        "another key": jwt.encode(claims, "not the key " * 4, algorithm="HS256"),
        "HS512 with the key": jwt.encode(claims, key + key, algorithm="HS512"),
        "no algorithm": jwt.encode(claims, None, algorithm="none"),
        "tampered payload": f"{head}.{body[:-2]}xx.{sig}",
        "tampered signature": f"{head}.{body}.{sig[::-1]}",
        "no exp_date": jwt.encode({"username": "lin"}, key, algorithm="HS256"),
        "exp_date as text": jwt.encode({"username": "lin", "exp_date": "never"}, key, "HS256"),
        "exp_date far away": jwt.encode(
            {"username": "lin", "exp_date": far + 10 * auth.SIGN_IN_SECONDS}, key, "HS256"
        ),
        "username not text": jwt.encode({"username": ["lin"], "exp_date": far}, key, "HS256"),
        "an exp claim in the past": jwt.encode(
            {"username": "lin", "exp_date": far, "exp": 1}, key, "HS256"
        ),
        "garbage": "not.a.jwt",
        "NUL and quotes": "\x00'\"\\",
        "very long": "a" * 100_000,
    }


def test_a_forged_or_tampered_cookie_is_refused_without_raising(
    written_cookie: tuple[str, str],
) -> None:
    token, key = written_cookie
    for why, forged in _forged(token, key).items():
        assert auth.read_cookie(forged, key, time.time()).status == "invalid", why
    for absent in (None, "", 42, object()):
        assert auth.read_cookie(absent, key, time.time()).status == "absent"


def _recheck_app() -> None:
    """What a self-refreshing part of a page (``st.fragment(run_every=…)``, as the live
    board's) does on its own reruns, which skip ``current_user``: ``recheck``, which asks
    for a whole-app run when the user lost access. (AppTest runs a fragment's rerun as a
    whole run, so the script counts its runs and rechecks in the first one only.)"""
    import streamlit as st

    from dashboard import auth, context
    from infra.dashboard.services import shared_services

    context.use(shared_services())
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    if st.session_state["runs"] == 1:
        auth.recheck()
        st.session_state["kept"] = True


def _rechecked(user: User, **state: Any) -> AppTest:
    at = AppTest.from_function(_recheck_app, default_timeout=60)
    at.session_state["hallwatch_user"] = user
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def test_recheck_asks_for_a_whole_run_when_the_user_lost_access(
    dashboard: Hall, extra_user: Any
) -> None:
    username = extra_user("live.user", "inspector")
    user = User(username, username, "inspector")
    kept = _rechecked(user, **{auth.SINCE_KEY: time.time()})
    assert (kept.session_state.get("runs"), kept.session_state.get("kept")) == (1, True)
    expired = _rechecked(user, **{auth.SINCE_KEY: time.time() - auth.SIGN_IN_SECONDS - 1})
    assert (expired.session_state.get("runs"), expired.session_state.get("kept")) == (2, None)
    moved = _rechecked(User(username, username, "head", department="教育局"))
    assert moved.session_state.get("runs") == 2  # the file says inspector now
    remove_user(dashboard.settings.users_file, username)
    gone = _rechecked(user)
    assert (gone.session_state.get("runs"), gone.session_state.get("kept")) == (2, None)
