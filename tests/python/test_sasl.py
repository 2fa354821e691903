"""SASL PLAIN with python-binary-memcached's own SASL support, against keel (both drivers).

keel runs with `-S --sasl-pwdb FILE`. The right user and password store and read values; a wrong
password and no password are refused with memcached's auth-error status 0x20 ("Auth failure."),
and nothing they tried to store is stored. (bmemcached names 0x08 its auth error, so it reports
0x20 as a plain MemcachedException carrying code 0x20.) memcached itself is not run here: Debian's
build needs a Cyrus SASL configuration for `-S`, which these tests do not install.
"""

import pytest

import bmemcached
from bmemcached.exceptions import MemcachedException

from conftest import Server

USER, PASSWORD = "alice", "pa55:w0rd with spaces"
AUTH_ERROR = 0x20


@pytest.fixture(params=["keel-mio", "keel-poll", "keel-uring"])
def sasl_server(request, tmp_path):
    pwdb = tmp_path / "pwdb"
    pwdb.write_text(f"# users\n{USER}:{PASSWORD}\nbob:other\n")
    srv = Server(request.param, extra_args=("-S", "--sasl-pwdb", str(pwdb)))
    try:
        yield srv
    finally:
        srv.stop()


def client(server, user=None, password=None):
    return bmemcached.Client([server.address], user, password, socket_timeout=5)


def test_right_password_works(sasl_server):
    c = client(sasl_server, USER, PASSWORD)
    try:
        assert c.set("greeting", "hello") is True
        assert c.get("greeting") == "hello"
        assert c.set("blob", b"\x00\xff" * 1000) is True
        assert c.get("blob") == b"\x00\xff" * 1000
        assert c.delete("greeting") is True
        assert c.get("greeting") is None
        (stats,) = c.stats().values()
        assert (int(stats["auth_cmds"]), int(stats["auth_errors"])) == (1, 0)
    finally:
        c.disconnect_all()


def test_wrong_password_is_refused(sasl_server):
    bad = client(sasl_server, USER, PASSWORD + "x")
    try:
        with pytest.raises(MemcachedException) as err:
            bad.set("k", "from-wrong-password")
        assert err.value.code == AUTH_ERROR
        assert "Auth failure." in err.value.message
        # The connection stays open after a failed AUTH, unauthenticated: a GET on it is refused.
        with pytest.raises(MemcachedException) as err:
            bad.get("k")
        assert err.value.code == AUTH_ERROR
    finally:
        bad.disconnect_all()
    # Another user's password does not work for alice either.
    other = client(sasl_server, USER, "other")
    try:
        with pytest.raises(MemcachedException) as err:
            other.set("k", "v")
        assert err.value.code == AUTH_ERROR
    finally:
        other.disconnect_all()
    good = client(sasl_server, USER, PASSWORD)
    try:
        assert good.get("k") is None, "a refused client stored a value"
        (stats,) = good.stats().values()
        # Three AUTH attempts (wrong, other user's, right), two of them failed.
        assert (int(stats["auth_cmds"]), int(stats["auth_errors"])) == (3, 2)
    finally:
        good.disconnect_all()


def test_no_password_is_refused(sasl_server):
    anon = client(sasl_server)
    try:
        with pytest.raises(MemcachedException) as err:
            anon.set("k", "anonymous")
        assert err.value.code == AUTH_ERROR
        # The server closed the connection after the auth error; a GET on the reconnected,
        # still unauthenticated client is refused again (bmemcached reports it as a miss).
        assert anon.get("k") is None
    finally:
        anon.disconnect_all()
    good = client(sasl_server, USER, PASSWORD)
    try:
        assert good.get("k") is None, "an unauthenticated client stored a value"
        (stats,) = good.stats().values()
        assert (int(stats["auth_cmds"]), int(stats["auth_errors"])) == (1, 0)
    finally:
        good.disconnect_all()
