# Splunk AppInspect checks the TA-vex package. The Splunk SDK for Python
# reads the command's output as an independent protocol decoder. Tests
# skip these checks when the variables below are unset.
if vex_pip_install "splunk-appinspect and splunk-sdk" splunk-appinspect splunk-sdk; then
	export VEX_APPINSPECT="$VEX_VENV/bin/splunk-appinspect"
	export VEX_SPLUNK_PYTHON="$VEX_VENV/bin/python"
fi
