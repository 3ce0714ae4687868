"""Starts a thread that uses torch and prints; the thread runs normally."""
import threading, torch
out = []
def work():
    out.append((torch.ones(2) * 3).sum().item())
    print("from the thread")
t = threading.Thread(target=work); t.start(); t.join()
print("main saw", out)
