# The CPU mixed-precision recipe of the PyTorch AMP examples: the forward under
# torch.autocast to bfloat16, a GradScaler around backward, the gradients unscaled before
# clipping, then scaler.step and scaler.update. One batch of the data is corrupted
# (values of 1e30): its loss overflows, the scaler skips that step and halves its scale.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 2))
optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
scaler = torch.amp.GradScaler("cpu")

inputs = torch.randn(30, 8, 6)
targets = torch.randn(30, 8, 2)
inputs[17] *= 1e30  # the corrupted batch

for step in range(30):
    x, y = inputs[step], targets[step]
    optimizer.zero_grad()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        output = model(x)
        loss = F.mse_loss(output.float(), y)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    scaler.step(optimizer)
    scaler.update()
    if step % 5 == 4 or step in (17, 18):
        print(f"step {step}: loss {loss.item():.4f} scale {scaler.get_scale():g}")

with torch.no_grad():
    val = F.mse_loss(model(inputs[0]), targets[0])
print(f"float32 loss on batch 0: {val.item():.4f}")
