"""`make bench`: the speed benchmark of SPEC §11 (see docs/performance.md)."""
