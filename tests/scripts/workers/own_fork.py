# A script that forks a process of its own. The child prints and then, by the first argument,
# runs on to the end of the script ("end"), raises ("raise") or calls sys.exit(3) ("exit").
import os
import sys

import torch

how = sys.argv[1] if len(sys.argv) > 1 else "end"
w = torch.ones(2, requires_grad=True)
pid = os.fork()
if pid == 0:
    print(f"child sum {(w.detach() * 3).sum().item():.1f}", flush=True)
    if how == "raise":
        raise ValueError("child failed")
    if how == "exit":
        sys.exit(3)
else:
    _, status = os.waitpid(pid, 0)
    print(f"child exit {os.waitstatus_to_exitcode(status)}")
loss = (w * 2).sum()
loss.backward()
print(f"{'child' if pid == 0 else 'parent'} grad {w.grad.tolist()}", flush=True)
