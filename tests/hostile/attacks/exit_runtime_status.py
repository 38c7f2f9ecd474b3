# Leaves at import with the exit statuses the grader's own runtime uses to say "the sandbox could not
# start" (86: child runtime, 87: namespace jail): a submission must not pass its exit off as the
# grader's failure (that would make grading end with "internal error" instead of a verdict).
import os

os._exit(87 if os.environ.get("SELAB_SANDBOX", "")[:1] in "01234567" else 86)
