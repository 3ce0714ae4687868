"""Backward twice with retain_graph=True, a non-scalar backward with gradient=, and torch.autograd.backward."""
import torch

w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
loss = (w * w).sum()
loss.backward(retain_graph=True)
loss.backward()
print(w.grad)

v = w * 3
v.backward(gradient=torch.tensor([1.0, 1.0]))
print(w.grad)

torch.autograd.backward([(w * w).sum()])
print(w.grad)
