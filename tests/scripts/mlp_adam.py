"""A tiny MLP (Linear-ReLU-Linear) trained with Adam for 3 steps on fixed random data."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)

net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
opt = torch.optim.Adam(net.parameters(), lr=0.01)

inputs = torch.randn(8, 3)
targets = torch.randn(8, 1)

for step in range(3):
    opt.zero_grad()
    loss = F.mse_loss(net(inputs), targets)
    loss.backward()
    opt.step()
    print(loss.item())
