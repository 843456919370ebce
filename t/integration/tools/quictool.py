#!/usr/bin/env python3
"""quictool.py - QUIC client Initial datagrams built here (RFC 9001 §5:
Initial keys, AES-128-GCM, header protection; RFC 9369 for v2), and a UDP
echo server that records what reaches it, for t/integration/23-*.

The packet sealer is the one of t/unit/test_sniff_quic.c, in python
(python3-cryptography): a TLS 1.3 ClientHello with an SNI in CRYPTO frames,
padded to a 1200-byte datagram. Nothing here speaks QUIC beyond that: the
server only echoes, so a test can check that the bytes reached the address
the name resolves to, unchanged, and that the echo comes back from the
address the client sent to.

  quictool.py serve PORT LOG            echo on [::]:PORT (dual-stack); one
                                        line per datagram to LOG:
                                        "<len> <sha256> <src-ip>"
  quictool.py send HOST PORT SPEC... [--expect echo|none|N] [--wait S]
                                        send datagrams (SPEC below) from one
                                        socket, in order, at once; with echo,
                                        each must come back identical, in
                                        order, from HOST:PORT (N: exactly the
                                        first N of them); prints the delay of
                                        the first echo as MS=<n>
    SPEC: initial:SNI      a v1 Initial with the whole ClientHello
          initial2:SNI     the same, QUIC v2
          partial:SNI      a v1 Initial with the first half of it only
                           (the sniffer must wait for more)
          split:SNI        two v1 Initials (same DCID), the ClientHello's
                           second half first
          garbage          1200 bytes that look like a v1 Initial but do
                           not decrypt
          raw:N            N random bytes starting with 0x00 (not QUIC)
          raw:N*K          K such datagrams
"""
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

V1, V2 = 0x00000001, 0x6B3343CF
SALT = {
    V1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
}
LABEL = {V1: "quic ", V2: "quicv2 "}


def expand_label(secret, label, length):
    full = b"tls13 " + label.encode()
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def client_keys(version, dcid):
    initial = hmac.new(SALT[version], dcid, hashlib.sha256).digest()
    secret = expand_label(initial, "client in", 32)
    p = LABEL[version]
    return (expand_label(secret, p + "key", 16), expand_label(secret, p + "iv", 12),
            expand_label(secret, p + "hp", 16))


def varint(v):
    if v < 64:
        return bytes([v])
    if v < 16384:
        return struct.pack("!H", 0x4000 | v)
    return struct.pack("!I", 0x80000000 | v)


def client_hello(sni):
    """TLS 1.3 ClientHello handshake message with server_name, a key share
    and supported_versions (enough for the sniffer; not for a server)."""
    name = sni.encode()
    sn = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    exts = struct.pack("!HH", 0, len(sn)) + sn
    ks = struct.pack("!HH", 0x001D, 32) + os.urandom(32)
    exts += struct.pack("!HHH", 51, len(ks) + 2, len(ks)) + ks
    exts += struct.pack("!HHBH", 43, 3, 2, 0x0304)
    body = struct.pack("!H", 0x0303) + os.urandom(32) + b"\x20" + os.urandom(32)
    body += struct.pack("!HH", 2, 0x1301) + b"\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    return b"\x01" + struct.pack("!I", len(body))[1:] + body


def crypto_frame(hello, off, length):
    return b"\x06" + varint(off) + varint(length) + hello[off:off + length]


def seal(version, dcid, pn, frames, dgram_len=1200):
    """One Initial packet carrying frames, padded so the datagram is
    dgram_len bytes, protected with the client Initial keys."""
    key, iv, hp = client_keys(version, dcid)
    type_bits = 1 if version == V2 else 0
    pn_len = 2
    head_wo_len = (bytes([0xC0 | type_bits << 4 | (pn_len - 1)]) + struct.pack("!I", version)
                   + bytes([len(dcid)]) + dcid + b"\x00" + b"\x00")
    plen = dgram_len - len(head_wo_len) - 2 - pn_len - 16
    assert len(frames) <= plen, "frames too long"
    payload = frames + b"\x00" * (plen - len(frames))
    header = head_wo_len + struct.pack("!H", 0x4000 | (pn_len + plen + 16)) + struct.pack("!H", pn)
    nonce = bytearray(iv)
    for i in range(8):
        nonce[11 - i] ^= (pn >> (8 * i)) & 0xFF
    ct = AESGCM(key).encrypt(bytes(nonce), payload, header)
    pkt = bytearray(header + ct)
    pn_off = len(header) - pn_len
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(bytes(pkt[pn_off + 4:pn_off + 20])) + enc.finalize()
    pkt[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        pkt[pn_off + i] ^= mask[1 + i]
    return bytes(pkt)


def datagrams(spec):
    kind, _, arg = spec.partition(":")
    dcid = os.urandom(8)
    if kind in ("initial", "initial2"):
        h = client_hello(arg)
        return [seal(V2 if kind == "initial2" else V1, dcid, 0, crypto_frame(h, 0, len(h)))]
    if kind == "partial":
        h = client_hello(arg)
        return [seal(V1, dcid, 0, crypto_frame(h, 0, len(h) // 2))]
    if kind == "split":
        h = client_hello(arg)
        half = len(h) // 2
        return [seal(V1, dcid, 1, crypto_frame(h, half, len(h) - half)),
                seal(V1, dcid, 0, crypto_frame(h, 0, half))]
    if kind == "garbage":
        return [bytes([0xC0]) + struct.pack("!I", V1) + b"\x08" + os.urandom(1194)]
    if kind == "raw":
        size, _, count = arg.partition("*")
        return [b"\x00" + os.urandom(int(size) - 1) for _ in range(int(count or 1))]
    sys.exit("unknown datagram spec %r" % spec)


def norm(ip):
    ip = ip.split("%")[0]
    return ip[7:] if ip.startswith("::ffff:") else ip


def serve(port, log):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    with open(log, "a", buffering=1) as out:
        while True:
            data, peer = s.recvfrom(65535)
            out.write("%d %s %s\n" % (len(data), hashlib.sha256(data).hexdigest(), norm(peer[0])))
            s.sendto(data, peer)


def send(host, port, specs, expect, wait):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    sent = []
    for spec in specs:
        sent += datagrams(spec)
    t0 = time.time()
    for d in sent:
        s.sendto(d, (host, port))
    for d in sent:
        print("sent %d bytes sha256=%s" % (len(d), hashlib.sha256(d).hexdigest()))
    got, first = [], None
    deadline = t0 + wait
    while len(got) < len(sent):
        left = deadline - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            break
        if first is None:
            first = (time.time() - t0) * 1000
        if norm(src[0]) != norm(host) or src[1] != port:
            print("reply from %s:%d, want %s:%d" % (src[0], src[1], host, port))
            return 1
        got.append(data)
    if expect == "none":
        if got:
            print("%d datagrams came back; none should" % len(got))
            return 1
        print("no reply within %.1fs, as expected" % wait)
        return 0
    want = sent if expect == "echo" else sent[:int(expect)]
    if got != want:
        print("echo: %d of %d datagrams back (want %d), identical and in order: %s"
              % (len(got), len(sent), len(want), got == sent[:len(got)]))
        return 1
    print("echo ok: %d of %d datagrams (%d bytes) back unchanged, in order, from %s:%d; MS=%d"
          % (len(want), len(sent), sum(map(len, want)), host, port, first))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "serve":
        serve(int(argv[1]), argv[2])
        return 0
    if len(argv) >= 4 and argv[0] == "send":
        expect, wait, specs = "echo", 3.0, []
        it = iter(argv[3:])
        for a in it:
            if a == "--expect":
                expect = next(it)
            elif a == "--wait":
                wait = float(next(it))
            else:
                specs.append(a)
        return send(argv[1], int(argv[2]), specs, expect, wait)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
