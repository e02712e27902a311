#!/usr/bin/python3
"""Write a deterministic directory tree for the sync tests.

Usage: maketree.py DIR

About 50 files in nested directories: mixed sizes (an empty file, a few
bytes, hundreds of KiB, one of 20 MiB so awscli's sync goes multipart),
names with spaces and other characters that need URL encoding, and
siblings whose names sort around '/' ("d-x", "d.x", "d/", "d_x") so that
listings must interleave directories and files in bytewise key order.
"""

import os
import random
import sys

root = sys.argv[1]
rnd = random.Random(20240601)


def write(rel, size):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(rnd.randbytes(size))


files = {
    "empty.txt": 0,
    "one byte": 1,
    "top level file.txt": 1234,
    "big/twenty-mib.bin": 20 << 20,
    "big/seven-mib.bin": (7 << 20) + 3,
    "d-x": 10,
    "d.x": 11,
    "d_x": 12,
    "d/inner": 13,
    "d/deeper/leaf": 14,
    "with space/file one.txt": 4096,
    "with space/file two.txt": 0,
    "with space/nested dir/x y z.bin": 70000,
    "special/plus+sign.txt": 5,
    "special/percent%41.txt": 6,
    "special/tilde~and=equals.txt": 7,
    "special/caf\u00e9 \u00fcnic\u00f8de.txt": 8,
    "special/semi;colon,comma.txt": 9,
    "special/paren(1) [2].txt": 10,
}
for i in range(30):
    files[f"tree/level{i % 3}/sub{i % 4}/file{i:02d}.dat"] = rnd.choice([0, 1, 100, 5000, 65536, 300000])
for rel, size in files.items():
    write(rel, size)
print(len(files))
