"""The default progress display: one line per piece of work on stderr, redrawn in place."""

import sys


class ProgressBar:
    """A callable for progress=: draws `what [#####-----] done/total elapsed, ~left message`."""

    def __init__(self, stream=None, width=24):
        self.stream = stream or sys.stderr
        self.width = width
        self._open = False

    def __call__(self, event):
        what, done, total = event["what"], event["done"], event["total"]
        seconds, message = event["seconds"], event["message"]
        if event["finished"]:
            line = "{} done in {:.1f}s {}".format(what, seconds, message)
            self.stream.write("\r\033[K" + line + "\n")
            self._open = False
        else:
            filled = int(self.width * done / total) if total > 0 else 0
            left = ""
            if 0 < done < total:
                left = ", ~{:.0f}s left".format(seconds / done * (total - done))
            line = "{} [{}{}] {}/{} {:.1f}s{} {}".format(what, "#" * filled, "-" * (self.width - filled), done, total,
                                                        seconds, left, message)
            self.stream.write("\r\033[K" + line)
            self._open = True
        self.stream.flush()
