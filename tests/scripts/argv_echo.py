"""Prints sys.argv, __name__ and the basename of __file__."""
import os
import sys

print(sys.argv)
print(__name__)
print(os.path.basename(__file__))
