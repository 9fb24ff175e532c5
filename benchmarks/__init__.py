"""twinframe's benchmarks: an in-process harness (``python -m benchmarks.inprocess``)
and an end-to-end load test under real servers (``python -m benchmarks.e2e``).

See docs/performance.md for the numbers and how to reproduce them.
"""
