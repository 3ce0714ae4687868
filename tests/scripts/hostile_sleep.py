"""Sleeps in one long C call: nothing can stop it until it returns."""
import time

print("going to sleep")
time.sleep(600)
