"""Speed benchmarks. Each prints ratios against a reference measured in the same process."""
