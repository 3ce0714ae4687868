"""torch.compile on a small function, then backward through it."""
import torch
def f(x):
    return (x * x).sum()
g = torch.compile(f)
x = torch.ones(3, requires_grad=True)
loss = g(x)
loss.backward()
print(x.grad)
