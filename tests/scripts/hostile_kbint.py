"""Raises KeyboardInterrupt itself."""
print("about to interrupt")
raise KeyboardInterrupt
