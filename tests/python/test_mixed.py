"""Binary and text clients on one port: values written over the binary protocol
(python-binary-memcached) read back over text (pymemcache) and the reverse, with the same flags and
the same CAS (the CAS in a text `gets` equals the binary GET's CAS), against keel (both drivers)
and memcached.
"""

import struct

import bmemcached
import pytest
from pymemcache.client.base import Client


@pytest.fixture
def clients(server):
    host, port = server.address.rsplit(":", 1)
    binary = bmemcached.Client([server.address], socket_timeout=5)
    text = Client((host, int(port)), default_noreply=False, connect_timeout=5, timeout=5)
    yield binary, text
    binary.disconnect_all()
    text.close()


def binary_get(binary, key):
    """A binary GET through bmemcached's connection: (status, flags, value, cas)."""
    (proto,) = list(binary.servers)
    kb = key.encode()
    proto._send(struct.pack("!BBHBBHLLQ", 0x80, 0x00, len(kb), 0, 0, 0, len(kb), 0x1234, 0) + kb)
    (_magic, opcode, keylen, extlen, _dt, status, _bodylen, opaque, cas, body) = proto._get_response()
    assert (opcode, opaque) == (0x00, 0x1234)
    body = body or b""
    if status != 0:
        return status, None, None, cas
    flags = struct.unpack("!L", body[:4])[0]
    return status, flags, body[extlen + keylen :], cas


def text_gets(text, key):
    """`gets key` over text: (flags, value, cas) or None."""
    reply = text.raw_command(f"gets {key}".encode(), b"END\r\n")
    if reply == b"":  # raw_command strips the END line
        return None
    header, rest = reply.split(b"\r\n", 1)
    _, name, flags, length, cas = header.split(b" ")
    assert name == key.encode()
    return int(flags), rest[: int(length)], int(cas)


def test_binary_write_text_read(clients):
    binary, text = clients
    # bmemcached stores bytes with flags 0, str with its own flag bits.
    assert binary.set("from-binary", b"\x00bin\r\nary\xff") is True
    assert binary.set("str-binary", "héllo") is True
    for key in ("from-binary", "str-binary"):
        status, flags, value, cas = binary_get(binary, key)
        assert status == 0
        assert text_gets(text, key) == (flags, value, cas), key
    assert text.get("from-binary") == b"\x00bin\r\nary\xff"
    # A binary delete is seen over text.
    assert binary.delete("from-binary") is True
    assert text_gets(text, "from-binary") is None


def test_text_write_binary_read(clients):
    binary, text = clients
    assert text.set("from-text", b"t\r\nxt", flags=0xCAFE) is True
    flags, value, cas = text_gets(text, "from-text")
    assert (flags, value) == (0xCAFE, b"t\r\nxt")
    assert binary_get(binary, "from-text") == (0, 0xCAFE, b"t\r\nxt", cas)
    # A text CAS update changes the CAS both protocols report.
    assert text.cas("from-text", b"new", str(cas).encode()) is True
    flags2, value2, cas2 = text_gets(text, "from-text")
    assert cas2 != cas and value2 == b"new"
    assert binary_get(binary, "from-text") == (0, flags2, b"new", cas2)
    # Counters cross over too.
    assert text.set("ctr", b"41") is True
    assert binary.incr("ctr", 1) == 42
    assert text.get("ctr") == b"42"
    assert text.incr("ctr", 8) == 50
    status, _, value, _ = binary_get(binary, "ctr")
    assert (status, value) == (0, b"50")


def test_cas_from_one_protocol_used_in_the_other(clients):
    binary, text = clients
    assert binary.set("k", b"v1") is True
    _, _, _, bcas = binary_get(binary, "k")
    # The binary GET's CAS is accepted by a text cas.
    assert text.cas("k", b"v2", str(bcas).encode()) is True
    _, tcas = text.gets("k")
    # ...and the text gets CAS by a binary CAS-checked set; a stale one is refused.
    assert binary.cas("k", b"v3", int(tcas)) is True
    assert binary.cas("k", b"v4", int(tcas)) is False
    assert text.get("k") == b"v3"
    _, _, _, bcas2 = binary_get(binary, "k")
    assert text.gets("k")[1] == str(bcas2).encode()
