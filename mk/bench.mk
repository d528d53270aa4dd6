# Benchmarks side by side with peers: `make bench` runs bench/run.sh, which
# installs the Python peers into bench/.venv and rewrites docs/benchmarks.md.
# BENCH_FLAGS go to bench/vexbench, e.g. BENCH_FLAGS='-rows P1,P4' or -quick.
BENCH_FLAGS ?=

.PHONY: bench
bench: build
	./bench/run.sh $(BENCH_FLAGS)
