# A loss that falls through almost four orders of magnitude in 20 backward passes:
# w starts at 100, SGD with lr=0.1 multiplies it by 0.8 each step, so the loss w**2
# is 1e4 * 0.64**k at the k-th backward (from 10000 down to about 2.08).
import torch

w = torch.tensor(100.0, requires_grad=True)
optimizer = torch.optim.SGD([w], lr=0.1)
for k in range(20):
    optimizer.zero_grad()
    loss = w ** 2
    loss.backward()
    optimizer.step()
print(f"final loss {loss.item():.4f}")
