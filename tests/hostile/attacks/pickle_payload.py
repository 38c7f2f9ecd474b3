# The hollow base, whose forward methods and state_dict return objects that run code when
# *unpickled* (a __reduce__ payload that leaves a canary note). The child side may pickle them;
# only a grader that unpickles what the child sends would ever run the payload.
import os

import torch


class _Payload:
    def __reduce__(self):
        code = f"print('SELAB-CANARY unpickled {_HOSTILE_ENTRY}'); open({os.path.join(_HOSTILE_REPORTS, 'canary-unpickled-' + _HOSTILE_ENTRY + '.json')!r}, 'w').write('{{}}')"
        return (exec, (code,))


class _PayloadTensor(torch.Tensor):
    def __reduce_ex__(self, protocol):
        return _Payload().__reduce__()


_hostile_outputs_as(_PayloadTensor)
CNN_SelfAttention.state_dict = lambda self, *args, **kwargs: {"payload": _Payload()}
