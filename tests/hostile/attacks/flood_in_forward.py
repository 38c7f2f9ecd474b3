# A correct solution whose every forward call prints 256 KB: hundreds of MB over a grading run.
# Output is the student's and capped; it must neither fill memory nor the results file.
import sys

_CHATTER = "forward called " * (256 * 1024 // 15)
for _cls in (CNN_Base, SEBlock, CNN_SE, CNN_SelfAttention):
    def _make(original):
        def forward(self, x):
            print(_CHATTER)
            print(_CHATTER, file=sys.stderr)
            return original(self, x)
        return forward
    _cls.forward = _make(_cls.forward)
