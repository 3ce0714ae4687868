"""Linear regression with a learning rate too large: every step overshoots, the loss diverges to inf."""
import torch

torch.manual_seed(0)
x = torch.randn(64, 3)
y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
model = torch.nn.Linear(3, 1)
opt = torch.optim.SGD(model.parameters(), lr=1.5)
for step in range(42):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
