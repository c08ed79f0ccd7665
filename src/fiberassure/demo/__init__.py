"""`fiberassure demo`: the seed played end to end (see play.py)."""
