// Filled by the engine work (issue 4): prints engine timings for `make bench`.
print("smc-bench: no benchmarks yet")
