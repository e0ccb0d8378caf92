"""Use cases over the store and the engine; no HTTP here."""
