"""zero_grad(set_to_none=False) on weights larger than --max-values (100 elements): zeros, kept as statistics."""
import torch

torch.manual_seed(0)
net = torch.nn.Linear(10, 10)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
x = torch.randn(4, 10)
for i in range(2):
    opt.zero_grad(set_to_none=False)
    loss = net(x).pow(2).sum()
    loss.backward()
    opt.step()
