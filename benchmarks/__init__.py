"""Benchmarks: kernel microbenchmarks and other timing scripts (run from the repository root)."""
