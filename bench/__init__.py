"""Benchmarks of Shipline against baselines measured in the same run (`make bench`)."""
