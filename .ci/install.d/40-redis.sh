# Redis for the multi-replica gateway tests in adapters/gateway. The tests
# start their own redis-server on a free loopback port; this script only
# makes sure the binary exists and exports its path as VEX_REDIS_SERVER.
# When it cannot be installed the gateway tests that need Redis skip.
vex_redis_server="$(command -v redis-server || true)"
if [ -z "$vex_redis_server" ] && command -v apt-get >/dev/null 2>&1; then
	sudo_cmd=""
	if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then
		sudo_cmd="sudo -n"
	fi
	# Debian's package starts a system service on port 6379; the tests do
	# not use it, so a failure to start it is not an install failure.
	if $sudo_cmd apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1 ||
		{ $sudo_cmd apt-get update >/dev/null 2>&1 &&
			$sudo_cmd apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1; }; then
		vex_redis_server="$(command -v redis-server || true)"
	fi
fi
if [ -n "$vex_redis_server" ] && [ -x "$vex_redis_server" ]; then
	export VEX_REDIS_SERVER="$vex_redis_server"
	echo "redis-server: $("$VEX_REDIS_SERVER" --version)"
else
	echo "CONFORMANCE SKIPPED: redis-server could not be installed with apt-get; the gateway's Redis tests will skip"
fi
unset vex_redis_server sudo_cmd
