"""Gradient tutorial, cells 22-24: the first loss.backward().

Watch theta.grad: it is None until backward() runs, then tensor([2.])
(d(theta*theta)/dtheta = 2*theta = 2 at theta = 1).
"""
import torch

t0 = torch.Tensor([1])
theta = torch.nn.Parameter(t0)

loss = theta * theta
print(loss)

print(theta.grad)

loss = theta * theta
loss.backward()
print(theta.grad)
