"""A loop that forgets backward() on its second pass: step() finds no gradient."""
import torch

w = torch.nn.Parameter(torch.tensor([1.0]))
opt = torch.optim.SGD([w], lr=0.1)
for i in range(2):
    opt.zero_grad()
    loss = (w * w).sum()
    if i == 0:
        loss.backward()
    opt.step()
