# twinspace-live: `make run` serves the demo, `make test` runs the whole suite.
# Every target first runs scripts/bootstrap, which installs what is missing and is quick when
# nothing changed.

VENV = .venv
BIN = $(VENV)/bin
# Extra arguments: make run ARGS="--port 9000 --redis redis://127.0.0.1:6379/0"
ARGS =
# Extra pytest arguments: make test PYTEST_ARGS="-k chat -x"
PYTEST_ARGS =
PACKAGES = rooms live signaling

.PHONY: all bootstrap run test test-fast lint audit

all: test

bootstrap:
	bash scripts/bootstrap

run: bootstrap
	$(BIN)/twinspace-live serve $(ARGS)

test: bootstrap
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# Everything but Chromium, network namespaces and the tests marked slow, in under a minute:
# two workers (pytest-xdist), as the tests wait on sockets about as much as they compute.
test-fast: bootstrap
	$(BIN)/python -m pytest -p no:cacheprovider -m "not browser and not media and not slow" \
		-n 2 -x $(PYTEST_ARGS)

lint: bootstrap
	$(BIN)/ruff check $(PACKAGES)
	$(BIN)/mypy $(PACKAGES)

# Known vulnerabilities in the installed dependencies (the project itself is skipped).
audit: bootstrap
	$(BIN)/pip-audit --skip-editable --progress-spinner off

# ---- packaging: the lock files and the wheel (README, "Installing the wheel")
.PHONY: lock check-lock wheel check-wheel

# Rewrites requirements/lock.txt and requirements/runtime.txt from pyproject.toml with uv, keeping
# the versions already locked where pyproject.toml allows them. Not after bootstrap, which refuses
# a lock that lacks what pyproject.toml asks for; uses the uv bootstrap installed.
# Move one dependency: make lock LOCK_ARGS="--upgrade-package aiohttp"; all: LOCK_ARGS=--upgrade
LOCK_ARGS =
lock:
	bash scripts/lock $(LOCK_ARGS)

# Fails if `make lock` would change a pinned version (CI runs it).
check-lock: bootstrap
	bash scripts/lock --check

# dist/: the sdist and the wheel, with the built widget and the pages inside.
wheel: bootstrap
	bash scripts/build-dist

# Builds both, installs the wheel in a new venv outside the checkout, serves it, fetches the pages.
check-wheel: bootstrap
	bash scripts/check-wheel
