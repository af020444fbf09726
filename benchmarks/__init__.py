"""Scripts that print figures; `python -m benchmarks` prints them all in one table."""
