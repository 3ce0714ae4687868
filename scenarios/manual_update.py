"""Tensor-gradients tutorial, cell 7: one hand-written gradient step on y = (x - 4) ** 2.

Watch x.grad = 2 * (x - 4), and that the update done under torch.no_grad()
rebinds x to a NEW tensor with no grad tracking until x.requires_grad = True.
"""
import torch

torch.manual_seed(0)

# First lets try to code only a single step of gradient descent

x = torch.randn(1, requires_grad=True)
print('x:', x)

y = (x - 4) ** 2
y.backward()

learning_rate = 0.1

print('x.grad:', x.grad)
print('x - x.grad:', x - learning_rate * x.grad)
with torch.no_grad():
    x = x - learning_rate * x.grad
print('x:', x)
x.requires_grad = True
print('x:', x)
