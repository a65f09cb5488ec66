"""Use cases: depend on ports and domain rules only, raise domain errors only."""
