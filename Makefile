# seccompat: the two entry points for a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean system-deps

# The tests compare our compiler with libseccomp through pyseccomp, which loads
# the system libseccomp.so.2.  Install it if this machine lacks it (as root).
system-deps:
	@if ! ldconfig -p | grep -q 'libseccomp\.so\.2 '; then \
		echo "installing libseccomp2"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp2; \
	fi

$(STAMP): pyproject.toml setup.py src/seccompat/_rawcall.c | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
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

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests tools bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest -q
	@echo "== the wrapper tests again, under our own EPERM and ENOSYS profiles for Linux 3.16"
	$(VENV)/bin/seccompat run --deny-newer-than 3.16 --errno EPERM -- $(PY) -m pytest -q -p no:cacheprovider tests/test_calls.py
	$(VENV)/bin/seccompat run --deny-newer-than 3.16 --errno ENOSYS -- $(PY) -m pytest -q -p no:cacheprovider tests/test_calls.py

test: lint typecheck pytest

# Every benchmark runs; the exit status says whether any missed its target.
bench: $(STAMP)
	@# As an installed package would be: byte-compiled (this environment may set
	@# PYTHONDONTWRITEBYTECODE, which leaves every run compiling from source).
	$(PY) -m compileall -q src
	@status=0; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || status=1; done; exit $$status

clean:
	rm -rf $(VENV) build src/*.egg-info src/seccompat/*.so .mypy_cache .ruff_cache .pytest_cache .hypothesis
