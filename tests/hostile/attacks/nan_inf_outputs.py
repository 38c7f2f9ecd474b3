# The hollow base, answering NaN and infinities: CNN_Base NaN logits, CNN_SE +inf, CNN_SelfAttention
# alternating -inf/NaN, SEBlock x * NaN (NaN fails every comparison, so a check written as
# "no gate <= 0 and no gate >= 1" would pass it), and a NaN-poisoned state_dict for CNN_SE.
import torch


def _nan_forward(self, x):
    return torch.full((x.shape[0], self.fc.out_features), float("nan"))


def _inf_forward(self, x):
    return torch.full((x.shape[0], self.fc.out_features), float("inf"))


def _mixed_forward(self, x):
    out = torch.full((x.shape[0], self.fc.out_features), float("-inf"))
    out[:, ::2] = float("nan")
    return out


def _nan_gates(self, x):
    return x * float("nan")


def _nan_state_dict(self, *args, **kwargs):
    return {key: torch.full_like(value, float("nan")) for key, value in torch.nn.Module.state_dict(self).items()}


CNN_Base.forward = _nan_forward
CNN_SE.forward = _inf_forward
CNN_SelfAttention.forward = _mixed_forward
SEBlock.forward = _nan_gates
CNN_SE.state_dict = _nan_state_dict
