"""Recurses without end after one op: the RecursionError must be the script's own."""
import torch
x = torch.ones(1, requires_grad=True)
def f(n):
    return f(n + 1)
y = x * 2
f(0)
