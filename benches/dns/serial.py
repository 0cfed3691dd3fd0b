#!/usr/bin/env python3
"""One DNS query at a time over UDP, each sent as soon as the previous one is answered, for
SECONDS; prints the median, p90 and p99 latency in µs, the answers and the lost queries.

    serial.py HOST PORT QUERYFILE SECONDS [LOGFILE]

QUERYFILE is dnsperf's format, "NAME TYPE" a line, used in order and over again. LOGFILE, when
given, gets every latency in µs, one a line. dnsperf cannot do this itself: with `-q 1` it
waits milliseconds between queries, so a few hundred queries in five seconds. A query whose
answer (matching id and question) has not come in 2 s is lost. The latency is from just
before the send to just after the receive, so it includes this program's two system calls,
the same on both sides of a comparison.
"""

import random
import socket
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "SRV": 33, "HTTPS": 65}


def question(name, qtype):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".") if p)
    return labels + b"\0" + struct.pack("!HH", qtype, 1)


def main():
    host, port, path, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    log = open(sys.argv[5], "w") if len(sys.argv) > 5 else None
    questions = []
    for line in open(path):
        f = line.split()
        if len(f) >= 2 and f[1].upper() in TYPES:
            questions.append(question(f[0], TYPES[f[1].upper()]))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.settimeout(2.0)
    lat, lost, k = [], 0, 0
    clock = time.perf_counter_ns
    end = clock() + int(seconds * 1e9)
    while clock() < end:
        q = questions[k % len(questions)]
        k += 1
        qid = random.getrandbits(16)
        # A query: the id, RD set, one question.
        msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q
        t0 = clock()
        s.send(msg)
        try:
            while True:
                r = s.recv(65535)
                # Only the answer to this query counts (a late answer to a lost one does not).
                if r[:2] == msg[:2] and r[12:12 + len(q)].lower() == q.lower():
                    break
        except socket.timeout:
            lost += 1
            continue
        lat.append((clock() - t0) / 1000)
    if log:
        log.write("".join(f"{v:.1f}\n" for v in lat))
    lat.sort()

    def rank(p):
        # Nearest rank: the smallest latency with at least p % of the answers at or below it.
        return lat[max(0, -(-len(lat) * p // 100) - 1)] if lat else float("nan")

    print(f"{rank(50):.0f} {rank(90):.0f} {rank(99):.0f} {len(lat)} {lost}")


if __name__ == "__main__":
    main()
