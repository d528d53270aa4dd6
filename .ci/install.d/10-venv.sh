# Python virtual environment for the conformance tools (stix2-validator,
# splunk-appinspect, splunk-sdk). Later scripts pip-install into it and
# export the tool paths the tests look for. When pip cannot reach its
# registry, they print CONFORMANCE SKIPPED and the Go tests still run.
VEX_VENV="$PWD/.venv"
if [ ! -x "$VEX_VENV/bin/python" ]; then
	python3 -m venv "$VEX_VENV" || echo "CONFORMANCE SKIPPED: python3 -m venv failed"
fi
vex_pip_install() {
	# vex_pip_install WHAT PACKAGE... installs into the venv, or reports why not.
	local what="$1"; shift
	if [ -x "$VEX_VENV/bin/pip" ] && "$VEX_VENV/bin/pip" install --quiet --disable-pip-version-check "$@"; then
		return 0
	fi
	echo "CONFORMANCE SKIPPED: pip could not install $what ($*)"
	return 1
}
