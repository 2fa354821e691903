"""python-binary-memcached (`bmemcached`) against keel (both drivers) and memcached.

Every test gets a fresh server from the `server` fixture and asserts concrete values. The client
library has no TOUCH call, so `touch()` below sends the request through the client's own
connection object and response reader.
"""

import struct

import bmemcached
import pytest

UNICODE_KEY = "clé-ключ-键-🔑"


@pytest.fixture
def client(server):
    c = bmemcached.Client([server.address], socket_timeout=5)
    yield c
    c.disconnect_all()


def _protocol(client):
    (proto,) = list(client.servers)
    return proto


def touch(client, key, exptime):
    """TOUCH (opcode 0x1C) through the client's connection; returns (status, flags extras)."""
    proto = _protocol(client)
    kb = key.encode()
    header = struct.pack("!BBHBBHLLQ", 0x80, 0x1C, len(kb), 4, 0, 0, len(kb) + 4, 0xABCD, 0)
    proto._send(header + struct.pack("!L", exptime) + kb)
    (_magic, opcode, _keylen, extlen, _dt, status, _bodylen, opaque, _cas, extra) = proto._get_response()
    assert (opcode, opaque) == (0x1C, 0xABCD)
    return status, extra[:extlen]


def test_set_get_value_types(client):
    values = {
        "str": "hello world",
        "bytes": b"\x00\x01\x02\xff binary \r\n",
        "int": 42,
        "bigint": 2**62 + 7,
        "negative": -17,
        "unicode": "naïve café — 日本語 ✓",
        "empty-bytes": b"",
        "empty-str": "",
        "list": [1, "two", 3.0],
        "large": b"x" * 500_000,
        UNICODE_KEY: "value under a unicode key",
    }
    for key, value in values.items():
        assert client.set(key, value) is True, key
    for key, value in values.items():
        got = client.get(key)
        assert got == value, key
        assert type(got) is type(value), key
    assert client.get("missing") is None
    assert client.get("missing", default="dflt") == "dflt"


def test_add_replace(client):
    assert client.add("k", "first") is True
    assert client.add("k", "second") is False
    assert client.get("k") == "first"
    assert client.replace("k", "third") is True
    assert client.get("k") == "third"
    assert client.replace("nokey", "x") is False
    assert client.get("nokey") is None
    assert client.add(UNICODE_KEY, b"uni") is True
    assert client.replace(UNICODE_KEY, 7) is True
    assert client.get(UNICODE_KEY) == 7


def test_delete(client):
    client.set("d", "v")
    assert client.delete("d") is True
    assert client.get("d") is None
    # A miss is not an error for this client (only a CAS mismatch returns False).
    assert client.delete("d") is True
    client.set("dc", "v")
    value, cas = client.gets("dc")
    assert value == "v" and cas > 0
    assert client.delete("dc", cas=cas + 1000) is False
    assert client.get("dc") == "v"
    assert client.delete("dc", cas=cas) is True
    assert client.get("dc") is None


def test_incr_decr(client):
    assert client.incr("counter", 5, default=10) == 10  # created with the default; delta not applied
    assert client.incr("counter", 5) == 15
    assert client.decr("counter", 3) == 12
    assert client.decr("counter", 100) == 0  # floors at zero
    assert client.incr("counter", 2**64 - 1) == 2**64 - 1
    assert client.incr("counter", 2) == 1  # wraps mod 2**64
    client.set("num", 41)
    assert client.incr("num", 1) == 42
    assert client.get("num") == 42
    client.set("text", "not a number")
    with pytest.raises(bmemcached.exceptions.MemcachedException) as err:
        client.incr("text", 1)
    assert err.value.code == 6
    assert client.get("text") == "not a number"
    assert client.decr(UNICODE_KEY, 1, default=9) == 9
    assert client.decr(UNICODE_KEY, 1) == 8


def test_cas_and_gets(client):
    client.set("c", "v1")
    value, cas = client.gets("c")
    assert value == "v1" and isinstance(cas, int) and cas > 0
    assert client.get("c", get_cas=True) == ("v1", cas)
    assert client.cas("c", "v2", cas) is True
    assert client.get("c") == "v2"
    assert client.cas("c", "v3", cas) is False  # stale cas
    assert client.get("c") == "v2"
    value2, cas2 = client.gets("c")
    assert value2 == "v2" and cas2 != cas
    assert client.gets("nokey") == (None, None)
    assert client.cas("nokey", "x", 12345) is False


def test_multi(client):
    mapping = {f"m{i}": f"value-{i}" for i in range(50)}
    mapping[UNICODE_KEY] = b"bytes"
    mapping["int"] = 123
    assert client.set_multi(mapping) == []  # the keys that failed
    got = client.get_multi(list(mapping) + ["missing-1", "missing-2"])
    assert got == mapping
    with_cas = client.get_multi(["m1", "m2"], get_cas=True)
    assert with_cas["m1"][0] == "value-1" and with_cas["m1"][1] > 0
    assert with_cas["m1"][1] != with_cas["m2"][1]
    assert client.delete_multi([f"m{i}" for i in range(0, 50, 2)]) is True
    left = client.get_multi(list(mapping))
    assert set(left) == {f"m{i}" for i in range(1, 50, 2)} | {UNICODE_KEY, "int"}
    assert client.get_multi([]) == {}


def test_touch(client):
    client.set("t", "v", time=100)
    status, extras = touch(client, "t", 1000)
    assert status == 0
    assert len(extras) == 4  # TOUCH returns the item's flags
    assert client.get("t") == "v"
    status, _ = touch(client, "nokey", 1000)
    assert status == 1
    # An absolute exptime in 1970 expires the item at once.
    status, _ = touch(client, "t", 2_592_001)
    assert status == 0
    assert client.get("t") is None


def test_flush_all(client):
    assert client.set_multi({f"f{i}": i for i in range(20)}) == []
    assert client.get("f3") == 3
    assert client.flush_all() is True
    assert client.get_multi([f"f{i}" for i in range(20)]) == {}
    client.set("after", "x")
    assert client.get("after") == "x"


def test_stats(client, server):
    client.set("s1", "a")
    client.set("s2", "b")
    client.get("s1")
    client.get("nope")
    stats = client.stats()
    assert list(stats) == [server.address]
    st = stats[server.address]
    assert st["curr_items"] == b"2"
    assert st["total_items"] == b"2"
    assert st["cmd_set"] == b"2"
    assert st["cmd_get"] == b"2"
    assert st["get_hits"] == b"1"
    assert st["get_misses"] == b"1"
    assert int(st["pid"]) == server.proc.pid
    assert int(st["curr_connections"]) >= 1
    settings = client.stats("settings")[server.address]
    assert settings["item_size_max"] == b"1048576"
    assert settings["cas_enabled"] == b"yes"
