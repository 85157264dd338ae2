"""Pushing: one PUT with tenacity retries (``client``), the shared rate gate, the worker
threads and the circuit breaker (``workers``), and the progress display."""
