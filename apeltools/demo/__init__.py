"""The demo and what it is made of: made-up sites and logs, and a throw-away PKI (also for tests and benchmarks)."""
