"""python-memcached (`memcache`, text protocol) against keel (both drivers) and memcached.

Every test gets a fresh server from the `server` fixture and asserts concrete values:
set/get/add/replace/cas/gets/incr/decr/delete/touch, the *_multi calls, flush_all, get_stats,
values of 0 B, 1 KiB and 900 KiB, and keys the client refuses or encodes (unicode keys are sent as
UTF-8; whitespace and over-long keys are refused), checked against a memcached in the same test.
"""

import memcache
import pytest

from conftest import Server

UNICODE_KEY = "clé-ключ-键-🔑"


def connect(address):
    return memcache.Client([address], cache_cas=True, socket_timeout=5)


@pytest.fixture
def client(server):
    c = connect(server.address)
    yield c
    c.disconnect_all()


@pytest.fixture
def oracle():
    srv = Server("memcached")
    try:
        yield srv
    finally:
        srv.stop()


def test_set_get_sizes_and_types(client):
    values = {
        "empty": b"",
        "one-kib": bytes(range(256)) * 4,
        "900-kib": b"\x00\r\nEND\r\n" * (900 * 1024 // 8),
        "str": "naïve café",
        "int": 42,
        "list": [1, "two", 3.0],
    }
    for key, value in values.items():
        assert client.set(key, value) is True, key
    for key, value in values.items():
        assert client.get(key) == value, key
    assert client.get("missing") is None
    # Over the client's 1 MiB limit: refused without a round trip, returns 0.
    assert client.set("big", b"x" * (2 << 20)) == 0
    assert client.get("big") is None


def test_add_replace_append_prepend(client):
    assert client.replace("k", "r") == 0
    assert client.add("k", "a") is True
    assert client.add("k", "b") == 0
    assert client.get("k") == "a"
    assert client.replace("k", "mid") is True
    assert client.append("k", ">>") is True
    assert client.prepend("k", "<<") is True
    assert client.get("k") == "<<mid>>"
    assert client.append("nope", "x") == 0


def test_gets_and_cas(client):
    assert client.gets("k") is None
    assert client.set("k", "one") is True
    assert client.gets("k") == "one"
    assert client.cas("k", "two") is True
    assert client.cas("k", "three") == 0, "the remembered CAS is stale now"
    assert client.gets("k") == "two"
    # A concurrent writer makes the remembered CAS stale.
    other = connect(client.servers[0].address[0] + ":" + str(client.servers[0].address[1]))
    assert other.set("k", "other") is True
    assert client.cas("k", "mine") == 0
    assert client.get("k") == "other"
    other.disconnect_all()


def test_incr_decr(client):
    assert client.incr("n") is None
    assert client.decr("n") is None
    assert client.set("n", "10") is True
    assert client.incr("n", 5) == 15
    assert client.decr("n", 3) == 12
    assert client.decr("n", 100) == 0
    assert client.incr("n") == 1
    assert client.set("s", "text") is True
    with pytest.raises(ValueError, match="non-numeric value"):
        client.incr("s")


def test_delete_touch_multi(client):
    assert client.delete("k") == 0
    assert client.set("k", "v") is True
    assert client.delete("k") == 1
    assert client.get("k") is None
    assert client.touch("k", 10) == 0
    assert client.set("k", "v") is True
    assert client.touch("k", 100) == 1
    assert client.set_multi({"a": 1, "b": "2", "c": b"3"}) == []
    assert client.get_multi(["a", "b", "zz", "c"]) == {"a": 1, "b": "2", "c": b"3"}
    assert client.set_multi({"x": "1", "y": "2"}, key_prefix="p:") == []
    assert client.get_multi(["x", "y", "z"], key_prefix="p:") == {"x": "1", "y": "2"}
    assert client.delete_multi(["a", "b", "zz"]) == 1
    assert client.get_multi(["a", "b", "c"]) == {"c": b"3"}


def test_flush_all_and_stats(client):
    assert client.set("k", "v") is True
    client.flush_all()
    assert client.get("k") is None
    client.set("a", "1")
    client.get("a")
    client.get("missing")
    ((name, stats),) = client.get_stats()
    assert name.endswith(" (1)")
    assert stats["version"] == "1.6.18"
    assert stats["curr_items"] == "1"
    assert stats["get_hits"] == "1"
    assert int(stats["get_misses"]) >= 2
    assert stats["cmd_flush"] == "1"
    ((_, settings),) = client.get_stats("settings")
    assert settings["item_size_max"] == "1048576"


def _key_outcomes(address):
    c = connect(address)
    outcomes = {}
    for name, key in {"unicode": UNICODE_KEY, "space": "a b", "control": "a\x01b", "long": "k" * 251, "max": "k" * 250}.items():
        try:
            outcomes[name] = ("ok", c.set(key, "v-" + name), c.get(key))
        except memcache.Client.MemcachedKeyError as e:
            outcomes[name] = ("refused", type(e).__name__)
    c.disconnect_all()
    # How a unicode key reached the server: as its UTF-8 bytes.
    raw = connect(address)
    outcomes["unicode-raw"] = raw.get(UNICODE_KEY.encode("utf-8"))
    raw.disconnect_all()
    return outcomes


def test_key_rules_match_memcached(server, oracle):
    got = _key_outcomes(server.address)
    assert got == _key_outcomes(oracle.address)
    assert got["unicode"] == ("ok", True, "v-unicode")
    assert got["unicode-raw"] == "v-unicode"
    assert got["space"] == ("refused", "MemcachedKeyCharacterError")
    assert got["control"] == ("refused", "MemcachedKeyCharacterError")
    assert got["long"] == ("refused", "MemcachedKeyLengthError")
    assert got["max"] == ("ok", True, "v-max")
