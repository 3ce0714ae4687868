"""Tensor-gradients tutorial, cell 8: gradient descent on y = (x - 4) ** 2 until convergence.

Watch x move 20% of the way to 4 each iteration: x is rebound to a fresh leaf
every time (so x.grad starts as None each loop) and the loop breaks once the
update is smaller than eps, printing Soln x: tensor([4.0000]).
"""
import torch

torch.manual_seed(0)

# Gradient Descent till convergence

x = torch.randn(1, requires_grad=True)
print('Initial x:', x)

max_iter = 100
learning_rate = 0.1
eps = 1e-6

for _ in range(max_iter):
    y = (x - 4) ** 2
    y.backward()
    with torch.no_grad():
        prev_x = x
        x = x - learning_rate * x.grad
        if torch.norm(prev_x - x) < eps:
            break
    x.requires_grad = True

print('Soln x:', x)
