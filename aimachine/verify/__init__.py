"""verify/: the acceptance checks as data (checks.py) and the pure judges of their output (judges.py)."""
