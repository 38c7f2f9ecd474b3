# The hollow base, whose forward methods return a torch.Tensor subclass of zeros that lies: == is
# all True, != all False, bool() is True, and __torch_function__ answers True to every comparison
# (allclose, equal, isclose, eq...). The numbers it carries are still zeros.
import torch

_COMPARISONS = {torch.allclose, torch.equal, torch.isclose, torch.eq, torch.Tensor.eq, torch.Tensor.__eq__,
                torch.Tensor.allclose, torch.Tensor.equal, torch.Tensor.isclose}


class _Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in _COMPARISONS:
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

    def __eq__(self, other):
        return torch.ones(self.shape, dtype=torch.bool)

    def __ne__(self, other):
        return torch.zeros(self.shape, dtype=torch.bool)

    def __bool__(self):
        return True

    __hash__ = torch.Tensor.__hash__


_hostile_outputs_as(_Liar)
