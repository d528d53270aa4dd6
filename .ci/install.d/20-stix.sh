# OASIS stix2-validator for the STIX 2.1 conformance tests in core/stix.
# On success VEX_STIX_VALIDATOR names the validator's command-line program;
# the tests skip the conformance check when it is unset.
if vex_pip_install stix2-validator stix2-validator; then
	if [ -x "$VEX_VENV/bin/stix2_validator" ]; then
		export VEX_STIX_VALIDATOR="$VEX_VENV/bin/stix2_validator"
	else
		echo "CONFORMANCE SKIPPED: stix2-validator installed but $VEX_VENV/bin/stix2_validator is missing"
	fi
fi
