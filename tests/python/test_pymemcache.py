"""pymemcache (text protocol) against keel (both drivers) and memcached.

Every test gets a fresh server from the `server` fixture (keel-mio, keel-poll, keel-uring, memcached) and
asserts concrete values: set/get/add/replace/cas/gets/incr/decr/delete/touch, the *_many calls,
flush_all, stats, values of 0 B, 1 KiB and 900 KiB, too-large values, and keys the client refuses
(unicode, whitespace, over 250 bytes), checked against a memcached started in the same test.
"""

import pytest
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError, MemcacheIllegalInputError, MemcacheServerError

from conftest import Server

UNICODE_KEY = "clé-ключ-键-🔑"


def connect(address, **kwargs):
    host, port = address.rsplit(":", 1)
    return Client((host, int(port)), default_noreply=False, connect_timeout=5, timeout=5, **kwargs)


@pytest.fixture
def client(server):
    c = connect(server.address)
    yield c
    c.close()


@pytest.fixture
def oracle():
    srv = Server("memcached")
    try:
        yield srv
    finally:
        srv.stop()


def test_set_get_sizes(client):
    values = {"empty": b"", "one-kib": bytes(range(256)) * 4, "900-kib": b"\x00\r\nEND\r\n" * (900 * 1024 // 8)}
    assert len(values["one-kib"]) == 1024 and len(values["900-kib"]) == 900 * 1024
    for key, value in values.items():
        assert client.set(key, value) is True, key
    for key, value in values.items():
        assert client.get(key) == value, key
    assert client.get("missing") is None
    assert client.get("missing", default=b"dflt") == b"dflt"
    # Flags travel with the value (pymemcache's serde stores its type in them).
    assert client.set("n", 42) is True
    assert client.get("n") == b"42"
    assert client.set("flagged", b"v", flags=0xDEADBEEF) is True
    assert client.gets("flagged")[0] == b"v"
    assert client.raw_command(b"get flagged", b"END\r\n") == b"VALUE flagged 3735928559 1\r\nv\r\n"


def test_add_replace_append_prepend(client):
    assert client.replace("k", b"r") is False
    assert client.add("k", b"a") is True
    assert client.add("k", b"b") is False
    assert client.get("k") == b"a"
    assert client.replace("k", b"mid") is True
    assert client.append("k", b">>") is True
    assert client.prepend("k", b"<<") is True
    assert client.get("k") == b"<<mid>>"
    assert client.append("nope", b"x") is False
    assert client.prepend("nope", b"x") is False


def test_gets_and_cas(client):
    assert client.gets("k") == (None, None)
    assert client.cas("k", b"v", b"1") is None  # NOT_FOUND
    assert client.set("k", b"one") is True
    value, cas = client.gets("k")
    assert value == b"one" and int(cas) > 0
    assert client.cas("k", b"two", str(int(cas) + 1000).encode()) is False  # EXISTS
    assert client.cas("k", b"two", cas) is True
    assert client.cas("k", b"three", cas) is False
    value, cas2 = client.gets("k")
    assert value == b"two" and int(cas2) > int(cas)
    many = client.gets_many(["k", "missing"])
    assert many == {"k": (b"two", cas2)}


def test_incr_decr(client):
    assert client.incr("n", 1) is None
    assert client.decr("n", 1) is None
    assert client.set("n", b"10") is True
    assert client.incr("n", 5) == 15
    assert client.decr("n", 3) == 12
    assert client.decr("n", 100) == 0
    assert client.incr("n", 2**64 - 1) == 2**64 - 1
    assert client.incr("n", 2) == 1
    assert client.set("s", b"text") is True
    with pytest.raises(MemcacheClientError, match="non-numeric value"):
        client.incr("s", 1)
    assert client.incr("n", 1, noreply=True) is None
    assert client.get("n").strip() == b"2"


def test_delete_touch_many(client):
    assert client.delete("k") is False
    assert client.set("k", b"v") is True
    assert client.delete("k") is True
    assert client.get("k") is None
    assert client.touch("k", 10) is False
    assert client.set("k", b"v", expire=0) is True
    assert client.touch("k", 100) is True
    assert client.set_many({"a": b"1", "b": b"2", "c": b"3"}) == []
    assert client.get_many(["a", "b", "zz", "c"]) == {"a": b"1", "b": b"2", "c": b"3"}
    assert client.delete_many(["a", "b", "zz"]) is True
    assert client.get_many(["a", "b", "c"]) == {"c": b"3"}
    # Expiry in the past: gone at once.
    assert client.set("gone", b"v", expire=-1) is True
    assert client.get("gone") is None


def test_flush_all_version_stats(client):
    assert client.set("k", b"v") is True
    assert client.flush_all() is True
    assert client.get("k") is None
    assert client.version() == b"1.6.18"
    client.get("missing")
    client.set("a", b"1")
    client.get("a")
    stats = client.stats()
    assert stats[b"version"] == b"1.6.18"
    assert stats[b"cmd_flush"] == 1
    assert stats[b"get_hits"] == 1
    assert stats[b"get_misses"] >= 2
    assert stats[b"curr_items"] == 1
    assert stats[b"curr_connections"] >= 1
    settings = client.stats("settings")
    assert settings[b"item_size_max"] == 1048576
    assert settings[b"binding_protocol"] == b"auto-negotiate"


def test_too_large_value(client):
    with pytest.raises(MemcacheServerError, match="object too large for cache"):
        client.set("big", b"x" * (2 << 20))
    # The connection is still in step: the data block was swallowed.
    assert client.get("big") is None
    assert client.set("after", b"ok") is True
    assert client.get("after") == b"ok"


def _key_outcomes(address):
    """What pymemcache does with awkward keys against the server at `address`."""
    strict = connect(address)
    lenient = connect(address, allow_unicode_keys=True)
    outcomes = {}
    for name, key in {"unicode": UNICODE_KEY, "space": "a b", "newline": "a\nb", "long": "k" * 251}.items():
        try:
            outcomes[name] = ("ok", strict.set(key, b"v"), strict.get(key))
        except MemcacheIllegalInputError as e:
            outcomes[name] = ("refused", str(e).split(":")[0])
    outcomes["unicode-allowed"] = (lenient.set(UNICODE_KEY, b"uv"), lenient.get(UNICODE_KEY))
    outcomes["max-length"] = (strict.set("k" * 250, b"m"), strict.get("k" * 250))
    strict.close()
    lenient.close()
    return outcomes


def test_key_rules_match_memcached(server, oracle):
    got = _key_outcomes(server.address)
    assert got == _key_outcomes(oracle.address)
    assert got["unicode"] == ("refused", "Non-ASCII key")
    assert got["space"] == ("refused", "Key contains whitespace")
    assert got["long"] == ("refused", "Key is too long")
    assert got["unicode-allowed"] == (True, b"uv")
    assert got["max-length"] == (True, b"m")
