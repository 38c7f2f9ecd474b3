# The hollow base answering with tensors that claim to be enormous without owning the memory: an
# expanded (stride-0) tensor of 10^10 elements from forward, and a state_dict with one of 2^40.
# Serializing them must hit the reply size limit, not exhaust the grader's memory.
import torch


def _huge_forward(self, x):
    return torch.zeros(1).expand(10_000_000_000)


def _huge_state_dict(self, *args, **kwargs):
    state = dict(torch.nn.Module.state_dict(self))
    state["fc.weight"] = torch.zeros(1).expand(1 << 40)
    return state


for _cls in (CNN_Base, SEBlock, CNN_SE, CNN_SelfAttention):
    _cls.forward = _huge_forward
CNN_Base.state_dict = _huge_state_dict
