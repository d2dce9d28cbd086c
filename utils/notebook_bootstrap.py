# Make this notebook work wherever it is opened. Inside the workbook's folder this only makes the
# folder importable. In a fresh Colab runtime it first fetches the workbook and the packages Colab
# lacks (once; Colab's own torch is kept).
import subprocess
import sys
from pathlib import Path

WORKBOOK_GIT_URL = ""  # instructors: your copy's git URL, for Colab (see README, "Teaching with it")


def find_workbook() -> Path | None:
    for folder in [Path.cwd(), *Path.cwd().parents, Path("/content/workbook")]:
        if (folder / "utils" / "build.py").exists():
            return folder
    return None


WORKBOOK = find_workbook()
if WORKBOOK is None and "google.colab" in sys.modules and WORKBOOK_GIT_URL:
    subprocess.run(["git", "clone", "--quiet", "--depth=1", WORKBOOK_GIT_URL, "/content/workbook"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r",
                    "/content/workbook/utils/requirements-colab.txt"], check=True)
    WORKBOOK = find_workbook()
if WORKBOOK is None:
    raise RuntimeError("Cannot find the workbook's folder (the one with utils/, solutions/ and tests/): open this"
                       " notebook from inside it, or in Colab set WORKBOOK_GIT_URL above to the course's repository.")
if str(WORKBOOK) not in sys.path:
    sys.path.insert(0, str(WORKBOOK))
