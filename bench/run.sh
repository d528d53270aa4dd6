#!/usr/bin/env bash
# Runs the benchmark suite behind `make bench` and rewrites
# docs/benchmarks.md. It builds the binaries, installs the Python peers
# (splunk-sdk, vex-ioc, iocextract, ioc-finder) into bench/.venv with pip,
# installs hyperfine and redis-server with apt-get when they are missing and
# this runs as root, then runs bench/vexbench. A peer that cannot be
# installed is reported in its row; the rest still runs. Extra arguments go
# to vexbench, e.g. `bench/run.sh -rows P1,P4` or `bench/run.sh -quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

$GO build -trimpath -o bin/splunkpass ./bench/splunkpass
$GO build -trimpath -o bin/vexbench ./bench/vexbench

# Exact versions, so two runs compare the same peers.
peers=(splunk-sdk==2.1.1 vex-ioc==1.8.1 iocextract==1.16.1 requests ioc-finder==9.4.1)
venv=bench/.venv
python_args=()
if [ ! -x "$venv/bin/python" ]; then
	python3 -m venv "$venv" || echo "bench: python3 -m venv failed; the Python peers will not run" >&2
fi
if [ -x "$venv/bin/pip" ] && "$venv/bin/pip" install --quiet --disable-pip-version-check "${peers[@]}"; then
	python_args=(-python "$venv/bin/python")
else
	echo "bench: pip could not install ${peers[*]}; rows with Python peers will say so" >&2
fi

# hyperfine times P4; redis-server backs P7. Both come from Debian.
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v redis-server >/dev/null || [ -n "${VEX_REDIS_SERVER:-}" ] || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; } ||
		echo "bench: apt-get could not install ${missing[*]}; P4 runs without hyperfine, P7 is skipped without redis-server" >&2
fi

exec bin/vexbench -bin bin -peers bench/peers -out docs/benchmarks.md "${python_args[@]}" "$@"
