"""Gradient tutorial, cells 35-40: gradients ACCUMULATE across backward() calls.

Watch theta.grad go None -> 2 -> 4 -> 6 -> 8 as backward() adds into .grad, and
theta itself never change (no step()). Then optimiser.zero_grad() resets the
grad to None, so the next backward() gives a clean 2 again.
"""
import torch

t = torch.Tensor([1])
theta = torch.nn.Parameter(t)

loss = theta * theta
print(theta.grad)
loss.backward()
print(theta.grad)

print(theta)

list_parameters = [theta]
learning_rate = 0.2

# each optimizer is initialised with a list of the parameters to optimize
optimizer = torch.optim.SGD(params=list_parameters, lr=learning_rate)
print(optimizer)

loss = theta * theta
loss.backward()
print(f"After 1st loss.backward(): theta.grad={theta.grad}")

loss = theta * theta  # necessary to recompute and store
loss.backward()
print(f"After 2nd loss.backward(): theta.grad={theta.grad}")

loss = theta * theta
loss.backward()
print(f"After 3rd loss.backward(): theta.grad={theta.grad}")

# zero_grad() : reset to 0
optimiser = torch.optim.SGD(params=list_parameters, lr=learning_rate)
optimiser.zero_grad()
loss = theta * theta
loss.backward()
print(f"After 1st loss.backward(): theta.grad={theta.grad}")

optimiser.zero_grad()
print(f"After optimiser.zero_grad(): theta.grad={theta.grad}")

loss = theta * theta   # necessary to recompute and store
loss.backward()
print(f"After 2nd loss.backward(): theta.grad={theta.grad}")
