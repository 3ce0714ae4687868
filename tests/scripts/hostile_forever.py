"""Never ends: a pure-Python loop (stoppable at any line)."""
n = 0
while True:
    n += 1
