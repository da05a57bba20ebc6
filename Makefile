# Needs only python3 (>= 3.10). Everything else is installed into .venv on first use, and again
# only when pyproject.toml changes (the stamp files carry a hash of it).
#
#   make run   [ARGS="--http-port 7000"]   one node: REST on 127.0.0.1:6333, data in ./storage
#   make test  [PYTEST_ARGS="-k config"]   the whole test suite
#   make lint                              ruff (pinned in pyproject.toml)
#   make fuzz  [ARGS="--examples 200"]      schema fuzzing (schemathesis) of a node of its own
#   make bench [ARGS=...]                  bench/run.py
#   make image [IMAGE=tessera:local]       the node image, offline: wheels built here, then
#                                          deploy/Dockerfile on BASE_IMAGE (python:3.11-slim, or
#                                          a local Debian base when that cannot be pulled)

PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
ARGS ?=
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

PYPROJECT_HASH := $(shell $(PYTHON) -c "import hashlib; print(hashlib.sha256(open('pyproject.toml', 'rb').read()).hexdigest()[:16])")
RUN_STAMP := $(VENV)/.stamp-run-$(PYPROJECT_HASH)
TEST_STAMP := $(VENV)/.stamp-test-$(PYPROJECT_HASH)

.PHONY: run test lint fuzz bench install install-test clean distclean wheels image

IMAGE ?= tessera:local
BASE_IMAGE ?= python:3.11-slim
# made by deploy/base-image.sh (debootstrap) when BASE_IMAGE is neither present nor pullable
LOCAL_BASE_IMAGE ?= tessera-base:local

run: $(RUN_STAMP)
	$(VENV)/bin/tessera serve $(ARGS)

# two workers (pytest-xdist): each test file is one unit, and the modules that start clusters run
# one after another on one worker (tests/conftest.py). TEST_WORKERS=0 runs in this process.
test: $(TEST_STAMP)
	$(VPY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(VPY) -m ruff check .

# schema fuzzing for longer than CI's stage, on a node of its own: make fuzz ARGS="--examples 200"
fuzz: $(TEST_STAMP)
	$(VPY) -m tests.support.fuzz $(ARGS)

bench: $(RUN_STAMP)
	$(VPY) bench/run.py $(ARGS)

# Tessera and every dependency as wheels for this Python (the image installs only from them).
wheels: $(RUN_STAMP)
	rm -rf wheels build
	$(VPY) -m pip wheel --quiet -w wheels .

# The legacy builder: the multi-stage Dockerfile needs no BuildKit (nor buildx).
image: wheels
	@base='$(BASE_IMAGE)'; \
	if ! docker image inspect "$$base" >/dev/null 2>&1 && ! docker pull -q "$$base" >/dev/null 2>&1; then \
	    echo "$$base cannot be pulled: building on $(LOCAL_BASE_IMAGE)"; \
	    deploy/base-image.sh '$(LOCAL_BASE_IMAGE)' || exit 1; base='$(LOCAL_BASE_IMAGE)'; \
	fi; \
	echo "docker build $(IMAGE) on $$base"; \
	DOCKER_BUILDKIT=0 docker build --quiet -f deploy/Dockerfile --build-arg BASE_IMAGE="$$base" \
	    -t '$(IMAGE)' . >/dev/null || exit 1; \
	docker image inspect -f '$(IMAGE): {{.Size}} bytes' '$(IMAGE)'

install: $(RUN_STAMP)
install-test: $(TEST_STAMP)

$(VPY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Tessera needs Python >= 3.10; this $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): | $(VPY)
	$(VPY) -m pip install --quiet -e .
	rm -f $(VENV)/.stamp-run-*
	touch $@

# The test extra includes the runtime dependencies, so it satisfies `run` too.
$(TEST_STAMP): | $(VPY)
	$(VPY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.stamp-run-* $(VENV)/.stamp-test-*
	touch $@ $(RUN_STAMP)

clean:
	rm -rf build dist wheels *.egg-info .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
