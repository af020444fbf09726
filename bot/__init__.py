"""Application wiring and command line of the MAO bot."""
