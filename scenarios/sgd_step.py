"""Gradient tutorial, cell 41: optimiser.step() performs one update.

Watch theta change only at step(): 1.0 -> 1.0 - 0.2 * 2 = 0.6000.
"""
import torch

t = torch.Tensor([1])
theta = torch.nn.Parameter(t)
list_parameters = [theta]
learning_rate = 0.2

# step() : performs one optimisation step
optimiser = torch.optim.SGD(params=list_parameters, lr=learning_rate)
optimiser.zero_grad()
loss = theta * theta
loss.backward()
print(f"Before optimization step: {theta}")
optimiser.step()
print(f"After optimization step: {theta}")
