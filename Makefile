# seccompat: the two entry points for a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The suite's own parallelism: 2 workers (CI machines have 2 cores).
PYTEST ?= $(PY) -m pytest -q -p no:cacheprovider -n 2
# Every supported Python, for `make test-matrix` (each in its own venv).
PYTHONS ?= 3.10 3.11 3.12 3.13

.PHONY: demo test test-matrix lint typecheck pytest pytest-pure pytest-dogfood bench clean \
	system-deps

# The package alone: all `make demo` needs.
$(VENV)/.package: pyproject.toml setup.py src/seccompat/_rawcall.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# The test toolchain on top (pinned in pyproject.toml), and the system libseccomp.
$(VENV)/.test: $(VENV)/.package | system-deps
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The tests compare our compiler with libseccomp through pyseccomp, which loads the
# system's libseccomp.so.2, and check the model against the real engines (tests/engines):
# install what is missing (as root, Debian's packages).
ENGINES := runc crun podman containerd dockerd
system-deps:
	@missing=""; \
	ldconfig -p | grep -q 'libseccomp\.so\.2 ' || missing="$$missing libseccomp2"; \
	for e in $(ENGINES); do command -v $$e >/dev/null || \
		missing="$$missing $$(echo $$e | sed 's/^dockerd$$/docker.io/')"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing: libseccomp for pyseccomp, the engines for tests/engines"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			$$missing >/dev/null; \
	fi

demo: $(VENV)/.package
	@echo "== seccompat probe (no filter)"
	$(VENV)/bin/seccompat probe faccessat2 clone3 openat2 close_range statx fchmodat2 io_uring_setup uretprobe
	@echo
	@echo "== the same under a Docker-like EPERM profile written for Linux 5.4"
	$(VENV)/bin/seccompat run --deny-newer-than 5.4 -- $(VENV)/bin/seccompat probe faccessat2 clone3 openat2 close_range statx fchmodat2
	@echo
	@echo "== CPython's os.access(effective_ids=True) on / : without and with that profile"
	$(VENV)/bin/seccompat run -- $(PY) -c 'import os; print(os.access("/", os.R_OK, effective_ids=True))'
	$(VENV)/bin/seccompat run --deny-newer-than 5.4 -- $(PY) -c 'import os; print(os.access("/", os.R_OK, effective_ids=True))'
	@echo "== ... and when the profile answers ENOSYS instead, glibc falls back and it is right again"
	$(VENV)/bin/seccompat run --deny-newer-than 5.4 --errno ENOSYS -- $(PY) -c 'import os; print(os.access("/", os.R_OK, effective_ids=True))'
	@echo "== ... and seccompat.calls.access is right under the EPERM profile, with no runtime change"
	$(VENV)/bin/seccompat run --deny-newer-than 5.4 -- $(PY) -c 'import os; from seccompat import calls; print(calls.access("/", os.R_OK, effective_ids=True))'

lint: $(VENV)/.test
	$(VENV)/bin/ruff check src tests tools bench

typecheck: $(VENV)/.test
	$(VENV)/bin/mypy

pytest: $(VENV)/.test
	$(PYTEST) $(PYTEST_MARKS)

# The same suite on the ctypes implementation, as a machine without a compiler has it.
pytest-pure: $(VENV)/.test
	@echo "== the whole suite again without the C accelerator (SECCOMPAT_PURE_PYTHON=1)"
	SECCOMPAT_PURE_PYTHON=1 $(PYTEST) -m "not slow"

pytest-dogfood: $(VENV)/.test
	@echo "== the wrapper tests again, under our own EPERM and ENOSYS profiles for Linux 3.16"
	$(VENV)/bin/seccompat run --deny-newer-than 3.16 --errno EPERM -- $(PY) -m pytest -q -p no:cacheprovider tests/calls
	$(VENV)/bin/seccompat run --deny-newer-than 3.16 --errno ENOSYS -- $(PY) -m pytest -q -p no:cacheprovider tests/calls

test: lint typecheck pytest pytest-pure pytest-dogfood

# The suite on every supported Python, each in its own venv (.venv-3.X); a version
# this machine lacks is skipped, and says so.
test-matrix:
	@for v in $(PYTHONS); do \
		py=$$(ls -d $$HOME/.pyenv/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -1); \
		[ -n "$$py" ] || py=$$(command -v python$$v 2>/dev/null && python$$v -c '' 2>/dev/null && command -v python$$v); \
		if [ -z "$$py" ]; then echo "== Python $$v: skipped: not installed (no pyenv version, no python$$v)"; continue; fi; \
		echo "== Python $$v: $$py"; \
		$(MAKE) --no-print-directory PYTHON=$$py VENV=.venv-$$v PYTEST_MARKS='-m "not slow"' pytest || exit 1; \
	done

# Every benchmark runs; the exit status says whether any missed its target.
bench: $(VENV)/.test
	@# As an installed package would be: byte-compiled (this environment may set
	@# PYTHONDONTWRITEBYTECODE, which leaves every run compiling from source).
	$(PY) -m compileall -q src
	@status=0; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || status=1; done; exit $$status

clean:
	rm -rf $(VENV) .venv-3.* build dist src/*.egg-info src/seccompat/*.so .mypy_cache .ruff_cache \
		.pytest_cache .hypothesis
