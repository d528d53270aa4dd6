"""Time one Python IOC extractor on the start of a text file.

Usage: extract_peer.py iocextract|ioc-finder FILE MAX_BYTES

Reads at most MAX_BYTES from FILE (cut at a line end), extracts the IOC
types that vex extract reports (md5, sha1, sha256, ipv4, domain, url) with
defanged forms refanged, removes duplicates as vex does, and prints one JSON
object: the tool, bytes read, extraction seconds (the import and the file
read are not timed) and the count of distinct values per type. iocextract
has no domain extractor, so it reports no domain count.

The text goes to the extractor in blocks of about 64 KiB cut at line ends,
as a streaming reader would pass it. iocextract's URL patterns take time
that grows faster than the input on one large string (0.1 MB in 1.5 s,
0.4 MB in 20 s on the bench machine), so blocks are the fair way to run it;
ioc-finder gets the same blocks.
"""
import json
import sys
import time


BLOCK = 64 << 10


def blocks(text):
    """Yield pieces of text of about BLOCK characters, cut after a newline."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + BLOCK)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def run_iocextract(text):
    import iocextract

    found = {"md5": set(), "sha1": set(), "sha256": set(), "ipv4": set(), "url": set()}
    start = time.perf_counter()
    for block in blocks(text):
        found["url"].update(iocextract.extract_urls(block, refang=True))
        found["ipv4"].update(iocextract.extract_ipv4s(block, refang=True))
        found["md5"].update(iocextract.extract_md5_hashes(block))
        found["sha1"].update(iocextract.extract_sha1_hashes(block))
        found["sha256"].update(iocextract.extract_sha256_hashes(block))
    elapsed = time.perf_counter() - start
    return elapsed, {k: len(v) for k, v in found.items()}


def run_ioc_finder(text):
    from ioc_finder import find_iocs

    keys = {"md5": "md5s", "sha1": "sha1s", "sha256": "sha256s", "ipv4": "ipv4s", "domain": "domains", "url": "urls"}
    found = {k: set() for k in keys}
    start = time.perf_counter()
    for block in blocks(text):
        iocs = find_iocs(block)
        for k, v in keys.items():
            found[k].update(iocs.get(v, []))
    elapsed = time.perf_counter() - start
    return elapsed, {k: len(v) for k, v in found.items()}


def main():
    tool, path, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path, "rb") as f:
        data = f.read(max_bytes)
    cut = data.rfind(b"\n")
    if cut >= 0:
        data = data[: cut + 1]
    text = data.decode("utf-8", errors="replace")
    runners = {"iocextract": run_iocextract, "ioc-finder": run_ioc_finder}
    elapsed, counts = runners[tool](text)
    print(json.dumps({"tool": tool, "bytes": len(data), "seconds": elapsed, "counts": counts}))


if __name__ == "__main__":
    main()
