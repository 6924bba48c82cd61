# tribune: one Makefile for the supervisor, the five daemons, the CLI and the tests.
#
#   make            build everything into $(BUILD)/ (default build/)
#   make run        install missing Debian packages, build, run `tribune agent -dev`
#   make test       install test packages, build with ASan+UBSan into build-test/,
#                   run unit tests (cmocka), a short fuzz pass, system tests (pytest)
#   make fuzz       build libFuzzer targets with clang and run each for FUZZ_SECONDS
#   make bench      run the benchmarks under bench/, write docs/performance.md
#   make install    binaries into $(PREFIX)/bin and $(PREFIX)/libexec/tribune
#
# Sources are picked up per directory: every .c in a daemon's directory belongs
# to it; its main.c holds only main(), so unit tests can link the rest.

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= cc
PYTHON   := /usr/bin/python3

PKGS     := msgpack lmdb libmicrohttpd ldns raft libuv jansson libcurl libcrypto
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wcast-qual
OPT      ?= -O2 -g
CFLAGS   += -std=gnu11 $(OPT) $(WARN) -fno-strict-aliasing
CPPFLAGS += -I. -Iproto -D_GNU_SOURCE -DTRIBUNE_LIBEXEC=\"$(PREFIX)/libexec/tribune\" \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS_BASE := -lnng -lmsgpackc -ljansson -lpthread -lm

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
CC      := clang
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -Wno-unused-command-line-argument
endif

src = $(sort $(wildcard $(1)/*.c))
obj = $(patsubst %.c,$(BUILD)/%.o,$(call src,$(1)))
lib = $(filter-out $(BUILD)/$(1)/main.o,$(call obj,$(1))) $(GEN_OBJS_$(1))

PROTO_OBJS := $(call obj,proto)
DAEMONS    := gossipd raftd dnsd httpd checkd

# proto/kvstore.c (raftd's KV rows and reads) needs LMDB; libproto's unit
# tests and fuzz targets link it.
LIBS_proto   := $(shell pkg-config --libs lmdb)
# gossipd links Debian's libnng.a (and the mbedtls it needs, from
# libmbedtls-dev): only the nng code it calls is mapped, which keeps its RSS
# under the 3 MB issue 5 asks for (docs/gossip.md has the smaps numbers);
# the price is a rebuild when Debian updates nng.
LIBS_gossipd := -Wl,-Bstatic -lnng -lmbedtls -lmbedx509 -lmbedcrypto -Wl,-Bdynamic -Wl,--as-needed
LIBS_raftd   := $(shell pkg-config --libs raft libuv lmdb)
LIBS_dnsd    := $(shell pkg-config --libs ldns)
LIBS_httpd   := $(shell pkg-config --libs libmicrohttpd lmdb)
LIBS_checkd  := $(shell pkg-config --libs libcurl)
LIBS_supervisor := $(shell pkg-config --libs libcurl)
LIBS_cli     := $(LIBS_supervisor)

BINS := $(BUILD)/bin/tribune $(patsubst %,$(BUILD)/libexec/tribune-%,$(DAEMONS))

all: $(BINS)

# V=1 shows the full command lines.
Q := $(if $(V),,@)

# Objects depend on the compiler and flags they were built with: building
# one BUILD dir with and then without SANITIZE=1 (or another OPT) rebuilds
# everything instead of linking a mix.  The stamp changes only when they do.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_TEXT  := $(CC) $(CPPFLAGS) $(CFLAGS) | $(LDFLAGS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(FLAGS_TEXT)' | cmp -s - $@ || echo '$(FLAGS_TEXT)' > $@
FORCE:

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $(BUILD)/$*.o")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libproto.a: $(PROTO_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The tribune command: the supervisor (`tribune agent`) and every client subcommand.
$(BUILD)/bin/tribune: $(call obj,supervisor) $(call obj,cli) $(BUILD)/libproto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_supervisor) $(LDLIBS_BASE)

# The web UI's page, compiled into httpd (httpd/ui.c serves it): od turns
# ui/index.html into a C array, so no tool beyond coreutils is needed.
GEN_OBJS_httpd := $(BUILD)/gen/ui_assets.o
$(BUILD)/gen/ui_assets.c: ui/index.html
	@mkdir -p $(dir $@)
	@{ echo '/* Generated from ui/index.html by the Makefile: do not edit. */'; \
	  echo '#include <stddef.h>'; echo '#include "httpd/httpd.h"'; \
	  echo 'const unsigned char ui_index_html[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; echo 'const size_t ui_index_html_len = sizeof(ui_index_html);'; } > $@
$(BUILD)/gen/ui_assets.o: $(BUILD)/gen/ui_assets.c $(FLAGS_STAMP)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

define daemon_rule
$(BUILD)/libexec/tribune-$(1): $(call obj,$(1)) $(GEN_OBJS_$(1)) $(BUILD)/libproto.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS_$(1)) $$(LDLIBS_BASE)
endef
$(foreach d,$(DAEMONS),$(eval $(call daemon_rule,$(d))))

# Unit tests: tests/unit/test_<dir>_<module>.c links libproto and the objects of
# <dir> (all but main.o); test_proto_*.c links libproto alone.
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
unit_dir    = $(word 2,$(subst _, ,$(1)))

define unit_rule
$(BUILD)/tests/$(1): $(BUILD)/tests/unit/$(1).o $(if $(filter proto,$(call unit_dir,$(1))),,$(call lib,$(call unit_dir,$(1)))) $(BUILD)/libproto.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS_$(call unit_dir,$(1))) -lcmocka $$(LDLIBS_BASE)
endef
$(foreach t,$(patsubst tests/unit/%.c,%,$(UNIT_SRCS)),$(eval $(call unit_rule,$(t))))

units: $(UNIT_BINS)

# Fuzz targets: fuzz/fuzz_<dir>_<name>.c, built with clang's libFuzzer.
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60
define fuzz_rule
$(BUILD)/fuzz/$(1): $(BUILD)/fuzz/$(1).o $(if $(filter proto,$(call unit_dir,$(1))),,$(call lib,$(call unit_dir,$(1)))) $(BUILD)/libproto.a
	@mkdir -p $$(dir $$@)
	$$(CC) -fsanitize=fuzzer,address,undefined -o $$@ $$^ $$(LIBS_$(call unit_dir,$(1))) $$(LDLIBS_BASE)
endef
$(foreach t,$(patsubst fuzz/%.c,%,$(FUZZ_SRCS)),$(eval $(call fuzz_rule,$(t))))

fuzz-bins: $(FUZZ_BINS)

fuzz: deps-test
	$(MAKE) BUILD=build-fuzz FUZZ=1 fuzz-bins
	@for src in $(FUZZ_SRCS); do \
	  name=$$(basename $$src .c); f=build-fuzz/fuzz/$$name; mkdir -p fuzz/corpus-$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 fuzz/corpus-$$name \
	      $$( [ -d fuzz/seeds/$$name ] && echo fuzz/seeds/$$name ) > build-fuzz/$$name.log 2>&1; then \
	    tail -n 40 build-fuzz/$$name.log; echo "fuzz: $$name FAILED"; exit 1; fi; \
	  tail -n 1 build-fuzz/$$name.log; \
	done

# --- set-up -----------------------------------------------------------------

DEBS_BUILD := build-essential pkg-config libnng-dev libmsgpack-dev liblmdb-dev \
              libmicrohttpd-dev libldns-dev libraft-dev libuv1-dev libjansson-dev \
              libcurl4-openssl-dev libssl-dev libmbedtls-dev
DEBS_TEST  := $(DEBS_BUILD) clang libclang-rt-14-dev libcmocka-dev python3-pytest \
              python3-requests python3-dnspython dnsutils curl iproute2 iptables \
              serf procps systemd python3-h2
DEBS_BENCH := $(DEBS_TEST) etcd-server etcd-client dnsperf nsd wrk

define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root, or install: $$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(DEBS_BUILD))
deps-test:
	$(call apt_install,$(DEBS_TEST))
deps-bench:
	$(call apt_install,$(DEBS_BENCH))

run: deps
	$(MAKE) all
	./$(BUILD)/bin/tribune agent -dev

TEST_BUILD := build-test
test: deps-test
	$(MAKE) BUILD=$(TEST_BUILD) SANITIZE=1 all units
	@bash tests/run-units.sh $(TEST_BUILD)
	$(MAKE) fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-10}
	TRIBUNE_BUILD=$(CURDIR)/$(TEST_BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider tests/system

bench: deps-bench all
	TRIBUNE_BUILD=$(CURDIR)/$(BUILD) bash bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/tribune
	install -m 0755 $(BUILD)/bin/tribune $(DESTDIR)$(PREFIX)/bin/tribune
	install -m 0755 $(BUILD)/libexec/tribune-* $(DESTDIR)$(PREFIX)/libexec/tribune/

clean:
	rm -rf build build-test build-fuzz

.PHONY: FORCE all units fuzz fuzz-bins deps deps-test deps-bench run test bench install clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
