# Extraction throughput benchmark; docs/benchmarks.md records the figures.
.PHONY: bench-extract
bench-extract:
	$(GO) test -run '^$$' -bench 'Extract' -benchtime 10x -count 3 -cpu 1 ./core/ioc
