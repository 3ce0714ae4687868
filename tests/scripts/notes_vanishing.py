"""A deep stack of sigmoids: the first layer's gradient is orders of magnitude below the last's."""
import torch

torch.manual_seed(0)
layers = []
for _ in range(12):
    layers += [torch.nn.Linear(8, 8), torch.nn.Sigmoid()]
net = torch.nn.Sequential(*layers, torch.nn.Linear(8, 1))
opt = torch.optim.SGD(net.parameters(), lr=0.1)
x = torch.randn(32, 8)
y = torch.randn(32, 1)
for step in range(5):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(net(x), y)
    loss.backward()
    opt.step()
