"""hallwatch benchmarks: each beside a raw baseline run in the same process and run."""
