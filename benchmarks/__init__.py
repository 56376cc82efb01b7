"""`make bench`: the settlement job against the engine's own ceiling, in one run (see docs/performance.md)."""
