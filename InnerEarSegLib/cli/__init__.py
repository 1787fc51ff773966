"""Command line `innerear-seg`: thin wrappers that call the library with keywords only."""
