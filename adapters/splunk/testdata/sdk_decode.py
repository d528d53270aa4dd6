"""Decode a chunked-protocol stream with the Splunk SDK for Python.

Reads the stream on stdin with splunklib's own chunk reader and multivalue
decoder and prints one JSON object per chunk: its metadata, header, row
count and the decoded multivalue cells. The Go tests compare that with
what the command meant to write.
"""

import csv
import io
import json
import sys

from splunklib.searchcommands.search_command import SearchCommand


def main():
    stream = sys.stdin.buffer
    chunks = []
    while True:
        chunk = SearchCommand._read_chunk(stream)
        if chunk is None:
            break
        metadata, body = chunk
        rows = list(csv.reader(io.StringIO(body, newline=""))) if body else []
        header = rows[0] if rows else []
        records = rows[1:]
        multivalues = {}
        for name in header:
            if name.startswith("__mv_"):
                col = header.index(name)
                multivalues[name] = [SearchCommand._decode_list(r[col]) if r[col] else [] for r in records]
        chunks.append({
            "metadata": dict(metadata.__dict__) if hasattr(metadata, "__dict__") else metadata,
            "header": header,
            "rows": len(records),
            "multivalues": multivalues,
        })
    json.dump(chunks, sys.stdout, default=lambda o: o.__dict__)


if __name__ == "__main__":
    main()
