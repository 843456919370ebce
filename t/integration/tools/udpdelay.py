#!/usr/bin/env python3
"""udpdelay.py server HOST PORT DELAY   echo each datagram back after DELAY s
   udpdelay.py client HOST PORT COUNT   send COUNT numbered requests, 0.5 s
                                        apart, from one socket; wait for all
                                        replies (bounded); exit 0 if all came
"""
import socket, sys, threading, time


def fam(h):
    return socket.AF_INET6 if ":" in h else socket.AF_INET


def server(host, port, delay):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.bind((host, port))
    while True:
        data, peer = s.recvfrom(65535)
        threading.Timer(delay, s.sendto, args=(data, peer)).start()


def client(host, port, count):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.settimeout(0.1)
    got, deadline = set(), time.time() + count * 0.5 + 15
    sent = 0
    next_send = time.time()
    while time.time() < deadline and len(got) < count:
        if sent < count and time.time() >= next_send:
            s.sendto(b"req-%d" % sent, (host, port))
            sent += 1
            next_send += 0.5
        try:
            data, _ = s.recvfrom(65535)
            got.add(data)
        except socket.timeout:
            pass
    print("replies %d/%d" % (len(got), count))
    return 0 if len(got) == count else 1


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "server":
        server(a[1], int(a[2]), float(a[3]))
    else:
        sys.exit(client(a[1], int(a[2]), int(a[3])))
