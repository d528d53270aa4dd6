#!/usr/bin/env bash
# Runs vex end to end with no API key and no network: starts the fake
# VirusTotal on loopback with the example data in testdata/demo, then
# triages the example IOC list against it. The data directory is a fresh
# temporary folder, so the demo never touches ~/.vex.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
fake_pid=""
cleanup() {
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

./bin/vex-vtfake -addr 127.0.0.1:0 -fixtures testdata/demo -rpm 240 >"$work/fake.out" 2>"$work/fake.err" &
fake_pid=$!
for _ in $(seq 50); do
	[ -s "$work/fake.out" ] && break
	sleep 0.1
done
base_url=$(head -n 1 "$work/fake.out")
if [ -z "$base_url" ]; then
	echo "demo: the fake VirusTotal did not start:" >&2
	cat "$work/fake.err" >&2
	exit 1
fi

cat >"$work/config.toml" <<TOML
[api]
tier = "premium"
per_minute = 240
per_day = 10000

[cache]
data_dir = "$work"
TOML
chmod 600 "$work/config.toml"

echo "fake VirusTotal at $base_url" >&2
echo "\$ vex triage -f testdata/demo/iocs.txt -o rich --summary" >&2
set +e
VEX_VT_BASE_URL="$base_url" VT_API_KEY="demo-key-for-the-fake" VEX_CONFIG="$work/config.toml" \
	./bin/vex triage -f testdata/demo/iocs.txt -o "${DEMO_FORMAT:-rich}" --summary
code=$?
set -e
echo "exit code: $code (0 clean or unknown, 1 suspicious, 2 malicious, 3 incomplete)" >&2
