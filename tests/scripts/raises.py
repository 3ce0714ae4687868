"""Runs a few lines, then a function raises RuntimeError("boom from the script")."""
a = 1
b = a + 1
print("before boom", b)


def explode():
    raise RuntimeError("boom from the script")  # raises here


explode()
print("never printed")
