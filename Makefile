# FluxMQ developer entry points. `make serve` and `make test` are the two
# commands the README starts with; each installs what it needs first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
PIP_FLAGS ?= --quiet --disable-pip-version-check --root-user-action=ignore

.PHONY: install install-test native-deps serve test native java-deps apt-deps kafka-jars compat clean bench bench-deps bench-quick bench-tls bench-txn bench-readme

# An editable install does not byte-compile, and under PYTHONDONTWRITEBYTECODE=1 the
# interpreter never caches bytecode itself: every `fluxmq serve` would then compile the
# broker's sources again (about 30 ms of a cold start; benchmarks/startup_profile.py).
# A wheel install compiles at install time; this does the same for the checkout.
# Stale .pyc files are ignored (their source mtime no longer matches), never run.
install: native-deps
	$(PIP) install $(PIP_FLAGS) -e .
	$(PYTHON) -m compileall -q fluxmq

# Rebuild the C library in place after editing csrc/.
native:
	$(PYTHON) build_ffi.py >/dev/null

serve: install
	$(PYTHON) -m fluxmq serve

install-test: native-deps
	$(PIP) install $(PIP_FLAGS) -e '.[test]'
	$(PYTHON) -m compileall -q fluxmq

# What the C library links (csrc/tls.c: OpenSSL), from the distribution's packages.
native-deps:
	@dpkg -s libssl-dev >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq || true) && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev >/dev/null; }

# From the distribution's packages: kcat, and what building librdkafka's test-runner needs
# (compat/librdkafka.py): a C/C++ toolchain, pkg-config, OpenSSL, zlib and zstd headers.
APT_PACKAGES = kcat g++ make pkg-config libssl-dev zlib1g-dev libzstd-dev
apt-deps:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq || true) && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; }

# Apache Kafka 4.4.0 from Maven Central (broker, tools, clients, every dependency): the
# reference that make bench and make compat run beside FluxMQ.
kafka-jars:
	mvn -q -B -f benchmarks/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=target/lib

# Java kafka-clients / kafka-tools 4.x from Maven Central, for tests/java.
java-deps:
	mvn -q -B -f tests/java/pom.xml -DskipTests package dependency:copy-dependencies -DoutputDirectory=target/lib

# The whole suite, then the CI tier of librdkafka's test-runner (compat/ci_tier.txt).
test: install-test apt-deps java-deps kafka-jars
	$(PYTHON) -m pytest -q -ra tests
	$(PYTHON) compat/run.py --tier ci

# librdkafka's own test suite against FluxMQ and Apache Kafka 4.4, every pass; rewrites the
# matrix in docs/compatibility.md (compat/run.py). COMPAT_ARGS="--fluxmq-only" etc.
compat: install apt-deps kafka-jars
	$(PYTHON) compat/run.py $(COMPAT_ARGS)

bench-deps: install kafka-jars
	$(PIP) install $(PIP_FLAGS) -r benchmarks/requirements.txt
	@command -v fio >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq || true) && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >/dev/null; }

# FluxMQ beside Apache Kafka 4.4.0 on this machine (see benchmarks/run.py); BENCH_ARGS="--repeats 2" etc.
bench: bench-deps
	$(PYTHON) benchmarks/run.py $(BENCH_ARGS)

bench-quick: bench-deps
	$(PYTHON) benchmarks/run.py --quick

# The TLS row: W1 and W3 over PLAINTEXT and SSL beside Apache Kafka (benchmarks/tls.py);
# results in benchmarks/results/tls-latest.md.
bench-tls: bench-deps
	cd benchmarks && $(PYTHON) tls.py $(BENCH_ARGS)

# The transactional row: ProducerPerformance idempotent beside transactional, FluxMQ beside
# Apache Kafka (benchmarks/txn.py); results in benchmarks/results/txn-latest.md.
bench-txn: bench-deps
	cd benchmarks && $(PYTHON) txn.py $(BENCH_ARGS)

# Rewrites the README's Performance section from benchmarks/results/latest.md.
bench-readme:
	$(PYTHON) benchmarks/update_readme.py

clean:
	rm -rf build dist *.egg-info fluxmq/_native.* tests/java/target benchmarks/kafka/target benchmarks/results/tmp \
	  compat/build
