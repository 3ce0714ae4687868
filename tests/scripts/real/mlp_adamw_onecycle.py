# An MLP regression in the style of the PyTorch examples: AdamW, a OneCycleLR schedule
# stepped after every optimizer step, and gradient clipping by norm between backward()
# and step(). Every 10 steps it prints the loss, the total gradient norm that
# clip_grad_norm_ returned and the learning rate the scheduler set.
import torch
from torch import nn
from torch.nn.utils import clip_grad_norm_

torch.manual_seed(0)
x = torch.randn(64, 4)
y = (x @ torch.tensor([[1.5], [-2.0], [0.5], [3.0]]) + 0.3 * torch.randn(64, 1)).squeeze(1)

net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
steps = 50
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
loss_fn = nn.MSELoss()

for step in range(steps):
    pred = net(x).squeeze(1)
    loss = loss_fn(pred, y)
    opt.zero_grad()
    loss.backward()
    total = clip_grad_norm_(net.parameters(), max_norm=1.0)
    opt.step()
    sched.step()
    if step % 10 == 0 or step == steps - 1:
        print(f"step {step:2d} loss {loss.item():.6f} grad norm {total.item():.6f} lr {sched.get_last_lr()[0]:.6g}")

print(f"final loss {loss_fn(net(x).squeeze(1), y).item():.6f}")
