"""The platform with two reference views beside it, and the servers the benchmarks start."""
