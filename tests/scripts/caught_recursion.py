"""Recurses to the limit, catches the RecursionError, and goes on: the lines after it still count."""
import torch
def f(n):
    return f(n + 1)
try:
    f(0)
except RecursionError:
    print("caught")
x = torch.ones(1) * 2
print("after", x.item())
