# %% [markdown]
# # Gradients accumulate (gradient tutorial, cells 35-40, as # %% cells)
#
# The same lesson as accumulation.py, written in the percent format that VS Code,
# Spyder and jupytext read as cells: theta.grad goes None -> 2 -> 4 -> 6 -> 8
# because backward() adds into .grad, until zero_grad() resets it.

# %% One backward
import torch

t = torch.Tensor([1])
theta = torch.nn.Parameter(t)

loss = theta * theta
print(theta.grad)
loss.backward()
print(theta.grad)

# %% [markdown]
# ## Three more backward calls, no zero_grad()

# %% Accumulating
optimizer = torch.optim.SGD(params=[theta], lr=0.2)
for n in ("1st", "2nd", "3rd"):
    loss = theta * theta
    loss.backward()
    print(f"After {n} loss.backward(): theta.grad={theta.grad}")

# %% [markdown]
# ## zero_grad() resets it

# %% Reset
optimizer.zero_grad()
print(f"After optimizer.zero_grad(): theta.grad={theta.grad}")
loss = theta * theta
loss.backward()
print(f"After one more loss.backward(): theta.grad={theta.grad}")
