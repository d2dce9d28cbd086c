"""Progress bars for anything that takes more than a few seconds.

Plain tqdm (text on stderr) rather than tqdm.auto: it needs no ipywidgets, renders the same in a
terminal, JupyterLab and Colab, and leaves no random widget ids in saved notebooks. The build and
the nbval tests set TQDM_DISABLE=1, because a bar's timings differ on every run.
"""

from tqdm import tqdm


def progress_bar(iterable, desc: str | None = None, **kwargs):
    return tqdm(iterable, desc=desc, dynamic_ncols=False, ncols=100, mininterval=0.5, **kwargs)
