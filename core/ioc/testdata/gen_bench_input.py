#!/usr/bin/env python3
"""Write the 64 MiB input of the vex extract end-to-end benchmark.

Usage: python3 gen_bench_input.py OUT.txt

The seed is fixed, so every run writes the same file. Five of eight lines
are prose. The rest are CSV rows with a SHA-256, defanged domain and IPv4
pairs, or sentences with a defanged URL and an MD5.
"""
import random
import sys

r = random.Random(7)
tlds = ["com", "net", "org", "ru", "top", "xyz", "info", "io"]
prose = [
    "The actor used spear-phishing emails with malicious attachments to gain initial access.",
    "After execution, the loader decrypts its configuration and contacts the command server.",
    "We observed lateral movement using stolen credentials and remote services (T1021).",
    "Persistence is achieved through a scheduled task named UpdateCheck, see Table 3.",
]


def word():
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(4, 11)))


def hexdigits(n):
    return "%0*x" % (n, r.getrandbits(n * 4))


lines = []
size = 0
while size < 64 << 20:
    k = r.randint(0, 7)
    if k < 5:
        line = r.choice(prose)
    elif k == 5:
        line = "sha256,%s,%s.dll,%d" % (hexdigits(64), word(), r.randint(0, 1 << 20))
    elif k == 6:
        line = "- %s[.]%s - %d.%d.%d[.]%d" % (
            word(), r.choice(tlds), r.randint(1, 223), r.randint(0, 255), r.randint(0, 255), r.randint(0, 255))
    else:
        line = "Payload fetched from hxxps://%s.%s/%s.php?id=%d, md5 %s." % (
            word(), r.choice(tlds), word(), r.randint(0, 999), hexdigits(32))
    lines.append(line)
    size += len(line) + 1

with open(sys.argv[1], "w") as f:
    f.write("\n".join(lines) + "\n")
