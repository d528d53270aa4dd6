"""A Splunk streaming command, written with the Splunk Python SDK, that
passes every event through unchanged. The benchmark runs it on the same
chunked-protocol stream as the vex command, as the Python baseline.
"""
import sys

from splunklib.searchcommands import Configuration, StreamingCommand, dispatch


@Configuration()
class PassThroughCommand(StreamingCommand):
    """Yield each record as it arrives."""

    def stream(self, records):
        for record in records:
            yield record


dispatch(PassThroughCommand, sys.argv, sys.stdin, sys.stdout, __name__)
