"""A hand-written update made with gradients on: x stops being a leaf."""
import torch

x = torch.tensor([1.0], requires_grad=True)
y = ((x - 4) ** 2).sum()
y.backward()
x = x - 0.1 * x.grad
y = ((x - 4) ** 2).sum()
y.backward()
print(x.is_leaf)
