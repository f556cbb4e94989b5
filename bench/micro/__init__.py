"""Micro-benchmarks: parts of motiad measured without HTTP, each against a floor
measured in the same run (issues 4 and 5)."""
