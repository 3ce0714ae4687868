"""Prints a hundred thousand lines: nothing may be lost, and the app must stay quick."""
for i in range(100_000):
    print("line", i)
