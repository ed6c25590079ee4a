# mcppool: build, test and install.
#
#   make            build mcppoold, mcpctl, libmcppool (static + shared), fixture, examples
#   make run        build, then run mcppoold in the foreground on the demo configuration
#   make test       build and run every test (unit + integration)
#   make asan       run the whole test suite under AddressSanitizer + UBSan
#   make bench      run the benchmarks (not part of `make test`)
#   make fuzz       build the libFuzzer harnesses (clang) and run each FUZZ_SECONDS (60)
#   make install    PREFIX=/usr/local DESTDIR= : binaries, library, header, .pc, man pages,
#                   systemd units (SYSTEMDUNITDIR=) and the sysusers.d entry

VERSION      := 0.1.0
SOVERSION    := 0
PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       := $(PREFIX)/bin
SBINDIR      := $(PREFIX)/sbin
LIBDIR       := $(PREFIX)/lib
INCDIR       := $(PREFIX)/include
MANDIR       := $(PREFIX)/share/man
PKGCONFIGDIR := $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d

B            ?= build
CC           ?= cc
OBJCOPY      ?= objcopy
OPT          ?= -O2
SAN          ?=
# -DMCPPOOL_POOL_CHECK: pool_check() after every change of the pool (make asan sets it).
CHECKS       ?=
CFLAGS_BASE  := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror \
                -Wno-missing-field-initializers -fPIC -Iproto -Idaemon -Iclient $(SAN) $(CHECKS)
# msgpack-c is pkg-config "msgpack" up to 4.x and "msgpack-c" from 6.0 on.
MSGPACK_PC   := $(shell pkg-config --exists msgpack-c 2>/dev/null && echo msgpack-c || echo msgpack)
PKGS         := $(MSGPACK_PC) libsodium jansson libcurl
# The daemon's alone (the metrics endpoint, sd_notify): libmcppool and mcpctl never link them.
DAEMON_PKGS  := libmicrohttpd libsystemd
DEP_CFLAGS    = $(shell pkg-config --cflags $(PKGS) $(DAEMON_PKGS) 2>/dev/null)
DEP_LIBS      = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm
DAEMON_LIBS   = $(shell pkg-config --libs $(DAEMON_PKGS) 2>/dev/null)
CFLAGS       += $(CFLAGS_BASE) $(DEP_CFLAGS)
LDFLAGS      += $(SAN)

PROTO_SRC    := $(wildcard proto/*.c)
DAEMON_SRC   := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
LIB_SRC      := client/mcppool.c
PROTO_OBJ    := $(PROTO_SRC:%.c=$(B)/%.o)
DAEMON_OBJ   := $(DAEMON_SRC:%.c=$(B)/%.o)
LIB_OBJ      := $(LIB_SRC:%.c=$(B)/%.o)

UNIT_SRC     := $(wildcard tests/unit/test_*.c)
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
ITEST_SRC    := $(wildcard tests/integration/test_*.c)
ITEST_OBJ    := $(ITEST_SRC:%.c=$(B)/%.o) $(B)/tests/integration/harness.o
EXAMPLE_SRC  := $(wildcard examples/*.c)
EXAMPLE_BIN  := $(EXAMPLE_SRC:examples/%.c=$(B)/examples/%)

STATIC_LIB   := $(B)/libmcppool.a
SHARED_LIB   := $(B)/libmcppool.so.$(VERSION)
TARGETS      := $(B)/mcppoold $(B)/mcpctl $(STATIC_LIB) $(SHARED_LIB) \
                $(B)/mcp-fixture $(EXAMPLE_BIN)

# Keep intermediate objects: rebuilding them each run is wasted time.
.SECONDARY:

.PHONY: all deps run test unit integration asan bench fuzz fuzz-build install uninstall clean
all: $(TARGETS)

# Every compile waits for this: missing Debian packages are installed (as root)
# or named precisely before the first error could be a confusing one.
$(B)/.deps-ok: scripts/deps.sh
	@scripts/deps.sh check
	@mkdir -p $(B) && touch $@

deps:
	@scripts/deps.sh install

$(B)/%.o: %.c | $(B)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The library: its own objects are built with hidden visibility; only MCPPOOL_API
# symbols are exported.
$(B)/client/mcppool.o: client/mcppool.c | $(B)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fvisibility=hidden -DMCPPOOL_BUILDING -MMD -MP -c -o $@ $<

$(B)/libproto.a: $(PROTO_OBJ)
	$(AR) rcs $@ $^

# Rebuilt whole: an object of a removed source must not linger in the archive.
$(B)/libdaemon.a: $(DAEMON_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# The static library is one relocatable object whose only global symbols are the
# API's (mcppool_*): its protocol code cannot clash with an application's names.
$(B)/client/mcppool-all.o: $(LIB_OBJ) $(PROTO_OBJ)
	$(LD) -r -o $@ $^
	$(OBJCOPY) -w --keep-global-symbol='mcppool_*' $@

$(STATIC_LIB): $(B)/client/mcppool-all.o
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ) $(PROTO_OBJ)
	$(CC) -shared -Wl,-soname,libmcppool.so.$(SOVERSION) -Wl,--version-script=client/mcppool.map \
	    $(LDFLAGS) -o $@ $^ $(DEP_LIBS)
	ln -sf libmcppool.so.$(VERSION) $(B)/libmcppool.so.$(SOVERSION)
	ln -sf libmcppool.so.$(SOVERSION) $(B)/libmcppool.so

$(B)/mcppoold: $(B)/daemon/main.o $(B)/libdaemon.a $(B)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS) $(DAEMON_LIBS)

$(B)/mcpctl: $(B)/client/mcpctl.o $(B)/client/bridge.o $(B)/client/top.o $(B)/client/elicit.o $(B)/libproto.a $(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

$(B)/mcp-fixture: $(B)/tests/fixture/mcp_fixture.o
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

$(B)/examples/%: $(B)/examples/%.o $(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

$(B)/tests/test_%: $(B)/tests/unit/test_%.o $(B)/libdaemon.a $(B)/libproto.a $(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS) $(DAEMON_LIBS) -lcriterion

# libdaemon.a: the harness scrubs the variables of the daemon's configuration table.
$(B)/tests/integration_tests: $(ITEST_OBJ) $(B)/libdaemon.a $(B)/libproto.a $(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS) $(DAEMON_LIBS) -lcriterion

# Runs each test binary as a subreaper: what a run leaves behind is told from
# processes outside it (see its header).
$(B)/tests/reaper: $(B)/tests/reaper.o
	$(CC) $(LDFLAGS) -o $@ $^

# ---- running -------------------------------------------------------------------

run: all
	@scripts/run-demo.sh $(B)

unit: all $(UNIT_BIN) $(B)/tests/reaper
	@scripts/run-tests.sh $(B) unit

integration: all $(B)/tests/integration_tests $(B)/tests/reaper
	@scripts/run-tests.sh $(B) integration

CLIENT_SUITES ?= 1
test: all $(UNIT_BIN) $(B)/tests/integration_tests $(B)/tests/reaper
	@CLIENT_SUITES=$(CLIENT_SUITES) scripts/run-tests.sh $(B) all

# The language clients' suites test the clients, not the daemon's memory: they run in
# `make test` only (CLIENT_SUITES=0 here), which keeps CI well inside its time.
asan:
	$(MAKE) B=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    CHECKS=-DMCPPOOL_POOL_CHECK CLIENT_SUITES=0 test

# The benchmark: its measuring program, the echo server of its baseline, the pool's
# in-process benchmark. bench/run.sh starts the processes and writes bench/results/.
BENCH_SRC    := $(addprefix bench/,bench.c cold.c direct.c hotpath.c http.c load.c memory.c \
                  peers.c rawecho.c throughput.c util.c)
BENCH_BIN    := $(B)/bench/bench $(B)/bench/echo_server $(B)/bench/relay $(B)/bench/pool_bench \
                $(B)/bench/jsontext_bench

$(B)/bench/bench: $(BENCH_SRC:%.c=$(B)/%.o) $(B)/libproto.a $(STATIC_LIB)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(DEP_LIBS)

$(B)/bench/echo_server: $(B)/bench/echo_server.o
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/bench/relay: $(B)/bench/relay.o
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/bench/pool_bench: $(B)/bench/pool_bench.o $(B)/bench/util.o $(B)/libdaemon.a $(B)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS) $(DAEMON_LIBS)

# The transcoder against jansson, in process: run it by hand.
$(B)/bench/jsontext_bench: $(B)/bench/jsontext_bench.o $(B)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

bench: all $(BENCH_BIN)
	@bench/run.sh $(B)

# ---- fuzzing -------------------------------------------------------------------

# libFuzzer harnesses (fuzz/README.md): clang with ASan and UBSan, in their own build
# directory, so that plain `make` never needs clang (scripts/deps.sh fuzz installs it).
# `make fuzz FUZZ_SECONDS=N` runs each harness N seconds on its seeds (fuzz/corpus/NAME)
# and fails when one finds a crash; inputs that crashed are kept in $(FB)/crashes/NAME/.
FB           := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-missing-field-initializers \
                -Iproto -Idaemon $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FB)/fuzz_%)
FUZZ_CODE    := $(PROTO_SRC:%.c=$(FB)/%.o) $(DAEMON_SRC:%.c=$(FB)/%.o)

$(FB)/.deps-ok: scripts/deps.sh
	@FUZZ_CC=$(FUZZ_CC) scripts/deps.sh fuzz
	@mkdir -p $(FB) && touch $@

# The code under test: warnings are shown, not fatal (gcc's -Werror build guards them).
$(FB)/%.o: %.c | $(FB)/.deps-ok
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEP_CFLAGS) -MMD -MP -c -o $@ $<

$(FB)/fuzz/%.o: fuzz/%.c | $(FB)/.deps-ok
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror $(DEP_CFLAGS) -MMD -MP -c -o $@ $<

$(FB)/libcode.a: $(FUZZ_CODE)
	rm -f $@
	$(AR) rcs $@ $^

# fuzz/offline.c: no name the fuzzer makes up is ever looked up in the DNS.
$(FB)/fuzz_%: $(FB)/fuzz/fuzz_%.o $(FB)/fuzz/offline.o $(FB)/libcode.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -Wl,--wrap=getaddrinfo -o $@ $^ $(DEP_LIBS) \
	    $(DAEMON_LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@fuzz/run.sh $(FB) $(FUZZ_SECONDS) $(FUZZ_NAMES)

# ---- installing ----------------------------------------------------------------

# The .pc is written at install time: it depends on PREFIX, which a file target would not see.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(INCDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(B)/mcppoold $(DESTDIR)$(SBINDIR)/mcppoold
	install -m 0755 $(B)/mcpctl $(DESTDIR)$(BINDIR)/mcpctl
	install -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libmcppool.a
	install -m 0755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/libmcppool.so.$(VERSION)
	ln -sf libmcppool.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmcppool.so.$(SOVERSION)
	ln -sf libmcppool.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libmcppool.so
	install -m 0644 client/mcppool.h $(DESTDIR)$(INCDIR)/mcppool.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCDIR@|$(INCDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' -e 's|@MSGPACK_PC@|$(MSGPACK_PC)|g' client/mcppool.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/mcppool.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/mcppool.pc
	for m in man/*.[1358]; do s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' contrib/systemd/mcppoold.service.in \
	    > $(DESTDIR)$(SYSTEMDUNITDIR)/mcppoold.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/mcppoold.service
	install -m 0644 contrib/systemd/mcppoold.socket $(DESTDIR)$(SYSTEMDUNITDIR)/mcppoold.socket
	install -m 0644 contrib/systemd/mcppool.sysusers $(DESTDIR)$(SYSUSERSDIR)/mcppool.conf

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/mcppoold $(DESTDIR)$(BINDIR)/mcpctl \
	    $(DESTDIR)$(LIBDIR)/libmcppool.* $(DESTDIR)$(INCDIR)/mcppool.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/mcppool.pc $(DESTDIR)$(SYSTEMDUNITDIR)/mcppoold.service \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/mcppoold.socket $(DESTDIR)$(SYSUSERSDIR)/mcppool.conf
	for m in man/*.[1358]; do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done

clean:
	rm -rf build build-asan $(FB)

-include $(shell find $(B) $(FB) -name '*.d' 2>/dev/null)
