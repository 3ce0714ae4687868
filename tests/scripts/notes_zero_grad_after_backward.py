"""zero_grad() between backward() and step(): the step has only zeros to apply."""
import torch

net = torch.nn.Linear(2, 1)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
x = torch.tensor([[1.0, 2.0]])
for i in range(3):
    loss = net(x).pow(2).sum()
    loss.backward()
    opt.zero_grad(set_to_none=False)
    opt.step()
