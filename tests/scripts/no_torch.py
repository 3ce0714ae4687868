"""Plain Python, no torch: a loop of 3 prints."""
for i in range(3):
    print("step", i)
