"""Run the batch triage of vex-ioc (the seed Python implementation, from
PyPI) against a fake VirusTotal.

Usage: vexioc_triage.py BASE_URL IOC_FILE

vex-ioc has no base URL setting: its clients read the module constant
VT_BASE when they are created, so this driver replaces that constant
before the batch starts. Everything else is vex-ioc's own code path for
`vex triage -f FILE` with a premium tier: its config file (written to
$HOME/.vex/config.yaml, so HOME must be a scratch folder), its rate
limiter, its thread pool of four workers and its cache, which is turned
off so every IOC is fetched. The update check, which would call PyPI, is
turned off in the config. Prints one JSON object: IOCs, results, failed
count and seconds.
"""
import contextlib
import json
import os
import sys
import time
from pathlib import Path


def main():
    base_url, ioc_file = sys.argv[1], sys.argv[2]
    home = Path(os.environ["HOME"])
    (home / ".vex").mkdir(parents=True, exist_ok=True)
    (home / ".vex" / "config.yaml").write_text(
        "api:\n  tier: premium\n  rate_limit:\n    premium:\n      requests_per_minute: 1000\n      requests_per_day: 100000\n"
        "update_check:\n  enabled: false\n"
        "cache:\n  enabled: false\n"
    )

    import vex.async_client
    import vex.client

    vex.client.VT_BASE = base_url
    vex.async_client.VT_BASE = base_url

    from vex.batch import batch_triage
    from vex.config import load_config

    config = load_config()
    iocs = [line.strip() for line in open(ioc_file) if line.strip()]
    start = time.perf_counter()
    # The progress bar is rich's, which writes to stdout; stdout carries
    # only the result line here.
    with contextlib.redirect_stdout(sys.stderr):
        results, failed = batch_triage(iocs, config, no_cache=True, show_progress=True)
    elapsed = time.perf_counter() - start
    print(json.dumps({"iocs": len(iocs), "results": len(results), "failed": failed, "seconds": elapsed}))


if __name__ == "__main__":
    main()
