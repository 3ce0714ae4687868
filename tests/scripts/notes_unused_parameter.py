"""An optimizer holds a parameter the loss never uses: it never receives a gradient."""
import torch

w = torch.nn.Parameter(torch.tensor([1.0]))
unused = torch.nn.Parameter(torch.tensor([2.0]))
opt = torch.optim.SGD([w, unused], lr=0.1)
opt.zero_grad()
(w * w).sum().backward()
opt.step()
