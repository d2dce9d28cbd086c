# Make this notebook work wherever it is opened. Inside the workbook's folder this only makes the
# folder importable. Opened alone (in Colab, or a fresh Jupyter), it first clones the workbook from
# WORKBOOK_GIT_URL and installs the few packages that Colab lacks (once; the torch already there is kept).
import os
import subprocess
import sys
from pathlib import Path

# Set by `python -m utils.build --git-url URL` (see README, "Teaching with it"); the environment variable
# WORKBOOK_GIT_URL, where set, takes precedence.
WORKBOOK_GIT_URL = ""
CLONE_TO = Path(os.environ.get("WORKBOOK_DIR") or ("/content/workbook" if "google.colab" in sys.modules
                                                   else "superposition-workbook")).resolve()


def find_workbook() -> Path | None:
    for folder in [Path.cwd(), *Path.cwd().parents, CLONE_TO]:
        if (folder / "utils" / "build.py").exists():
            return folder
    return None


WORKBOOK = find_workbook()
git_url = os.environ.get("WORKBOOK_GIT_URL") or WORKBOOK_GIT_URL
if WORKBOOK is None and git_url:
    print(f"fetching the workbook from {git_url} into {CLONE_TO} (once) ...")
    subprocess.run(["git", "clone", "--quiet", "--depth=1", git_url, str(CLONE_TO)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r",
                    str(CLONE_TO / "utils" / "requirements-colab.txt")], check=True)
    WORKBOOK = find_workbook()
if WORKBOOK is None:
    raise RuntimeError("Cannot find the workbook's folder (the one with utils/, solutions/ and tests/): open this"
                       " notebook from inside it, or set WORKBOOK_GIT_URL (an environment variable, or"
                       " `python -m utils.build --git-url URL`) to the course's git repository.")
if str(WORKBOOK) not in sys.path:
    sys.path.insert(0, str(WORKBOOK))
