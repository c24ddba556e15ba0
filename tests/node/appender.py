"""A child process for the concurrency test: append N packets to a data dir as fast as it can.

Usage: python -m tests.node.appender DATA_DIR WRITER COUNT
Prints "ready", waits for a line on stdin (the start signal), appends, then prints the
seqs it was given as one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from catd_node.datadir import DataDir

WORK_BYTES = 1 << 20


def main(argv: list[str]) -> int:
    root, writer, count = Path(argv[0]), argv[1], int(argv[2])
    ledger = DataDir(root).ledger()
    print("ready", flush=True)
    sys.stdin.readline()
    seqs = []
    for i in range(count):
        # a little work outside the transaction, as a scanner decoding an image would do,
        # so the write lock is free part of the time and the writers interleave
        image = hashlib.sha256(bytes(WORK_BYTES) + writer.encode() + bytes([i % 256])).hexdigest()
        seqs.append(ledger.append("acta.captured", {"acta": f"{writer}-{i:04d}", "image_sha256": image,
                                                    "values": {"i": i}, "by": writer, "round": 1}).seq)
    ledger.close()
    print(json.dumps(seqs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
