# The two commands a newcomer needs (README):
#   make course   set up .venv, then open the course in JupyterLab
#   make test     set up .venv, then run the whole test suite (what CI runs), on two workers: a notebook's
#                 cells stay together in one (--dist loadfile), and its kernel uses one thread (--as-other-machine)
# Maintainers also have: make build (regenerate notebooks from the one source), make grade.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: course test build grade setup

# The venv is rebuilt only when requirements.txt changes (the stamp file records the last install).
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

# (Jupyter refuses to run as root unless told to; containers and some cloud machines run as root.)
# JupyterLab would first ask whether to fetch "official Jupyter news" (a request to a website): the course
# runs offline, so the venv's settings answer no, once, before the first screen.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_OVERRIDES): $(VENV)/.installed
	mkdir -p $(dir $@)
	echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $@

course: $(VENV)/.installed $(LAB_OVERRIDES)
	$(VENV)/bin/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: $(VENV)/.installed
	$(PY) -m pytest --as-other-machine -n 2 --dist loadfile

build: $(VENV)/.installed
	$(PY) -m utils.build

grade: $(VENV)/.installed
	$(PY) -m tests.grade $(NOTEBOOKS)
