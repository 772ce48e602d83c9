# ferry — one non-recursive Makefile. Generated files live only under build/.
# Quiet unless V=1. CI=true adds -Werror.

BUILD      ?= build
CC         ?= cc
CLANG      ?= clang
BPFTOOL    ?= bpftool
PROTOC_C   ?= protoc-c
PREFIX     ?= /usr/local

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2);
endif

ARCH       := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
WARN       := -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
ifeq ($(CI),true)
WARN       += -Werror
endif
# The layers (see README "Layout"; scripts/layers.sh checks the includes):
# core at the bottom, the dump side (dump, track) and the restore side
# (restore, its lazy part and page sources) above it, the probes, the
# command line on top.
CORE_DIRS  := user/core
DUMP_DIRS  := user/dump user/track user/migrate
REST_DIRS  := restore restore/lazy restore/pagesrc restore/migrate
PROBE_DIRS := user/probe
LIB_DIRS   := $(CORE_DIRS) $(DUMP_DIRS) $(REST_DIRS) $(PROBE_DIRS)
CPPFLAGS   := -D_GNU_SOURCE -I. $(addprefix -I,$(LIB_DIRS)) -Iuser/cli -Iselftests -I$(BUILD) \
	      -I$(BUILD)/proto -MMD -MP
CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 $(WARN)
LDLIBS     := -lbpf -lelf -lz -luring -lprotobuf-c -lcrypto -lpthread
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf -Wall

.DELETE_ON_ERROR:
# Keep generated headers and BPF objects: they are not throwaway intermediates.
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

# ---- sources ---------------------------------------------------------------
PROTOS     := $(wildcard proto/*.proto)
PROTO_C    := $(PROTOS:proto/%.proto=$(BUILD)/proto/%.pb-c.c)
PROTO_H    := $(PROTO_C:.c=.h)
BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
SKELS      := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)
# Light skeletons: the kernel does their CO-RE relocations (user/core/vma_iter.c).
LSKELS     := $(BUILD)/vma_iter_path.lskel.h $(BUILD)/vma_iter_ident.lskel.h
GEN_H      := $(BUILD)/vmlinux.h $(PROTO_H) $(SKELS) $(LSKELS)

# The shared core and both sides form libferry.a; the command line sits on top.
LIB_SRCS   := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)) $(PROTO_C)
LIB_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS:$(BUILD)/%=%))
CLI_SRCS   := $(wildcard user/cli/*.c)
CLI_OBJS   := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
# The test files, and the helpers they share (helpers.c and per topic).
TEST_SRCS  := $(wildcard selftests/*.c)
TEST_OBJS  := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o)
WL_SRCS    := $(wildcard selftests/workloads/*.c)
WORKLOADS  := $(WL_SRCS:selftests/workloads/%.c=$(BUILD)/workloads/%)
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES    := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS  := $(wildcard selftests/fuzz/fuzz_*.c)
FUZZERS    := $(FUZZ_SRCS:selftests/fuzz/%.c=$(BUILD)/fuzz/%)

FERRY      := $(BUILD)/ferry
LIBFERRY   := $(BUILD)/libferry.a
TESTBIN    := $(BUILD)/selftests/ferry-tests

# ---- top-level targets ------------------------------------------------------
.PHONY: all deps test bench demo fuzz fuzz-ci install clean lint format help

MANPAGE    := $(BUILD)/ferry.8

all: $(FERRY) $(WORKLOADS) $(MANPAGE)

help:
	@echo 'ferry make targets:'
	@echo '  all      build build/ferry and the test workloads (default)'
	@echo '  deps     install missing Debian packages (scripts/install-deps.sh)'
	@echo '  test     deps + build + run the Criterion suite and a short fuzz run'
	@echo '  demo     deps + build + run ferry on a bundled workload'
	@echo '  bench    deps + build + run benchmarks (figures go to docs/BENCHMARKS.md)'
	@echo '  fuzz     libFuzzer runs on the parsers (FUZZ_SECONDS=60 each)'
	@echo '  lint     clang-format check, and the include graph between layers (scripts/layers.sh)'
	@echo '  install  install build/ferry to $$(PREFIX)/sbin and its man page (ferry(8))'
	@echo '  clean    remove build/'
	@echo 'Variables: V=1 (verbose), CI=true (-Werror), BUILD=dir'

deps:
	$(Q)bash scripts/install-deps.sh

test: deps
	$(Q)$(MAKE) --no-print-directory $(TESTBIN) $(FERRY) $(WORKLOADS) $(FUZZERS) $(BUILD)/vm/init \
		$(MANPAGE)
	$(Q)bash scripts/run-tests.sh $(BUILD)

demo: deps
	$(Q)$(MAKE) --no-print-directory $(FERRY) $(WORKLOADS)
	$(Q)bash scripts/demo.sh $(BUILD)

bench: deps
	$(Q)$(MAKE) --no-print-directory $(FERRY) $(WORKLOADS) $(BENCHES)
	$(Q)bash scripts/bench.sh $(BUILD)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZERS)
	$(Q)bash scripts/fuzz.sh $(BUILD) $${FUZZ_SECONDS:-60}

install: $(FERRY) $(MANPAGE)
	install -D -m 0755 $(FERRY) $(DESTDIR)$(PREFIX)/sbin/ferry
	install -D -m 0644 $(MANPAGE) $(DESTDIR)$(PREFIX)/share/man/man8/ferry.8

# The man page is docs/ferry.md, the reference, turned into troff.
$(MANPAGE): docs/ferry.md scripts/md2man.sh
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)bash scripts/md2man.sh $< > $@

clean:
	rm -rf $(BUILD)

LINT_FILES = $(filter-out bpf/vmlinux.h,$(wildcard bpf/*.[ch] $(addsuffix /*.[ch],$(LIB_DIRS)) user/cli/*.[ch] selftests/*.[ch] selftests/*/*.[ch] bench/*.[ch] bench/*/*.[ch]))
lint:
	$(Q)clang-format --dry-run -Werror $(LINT_FILES)
	$(Q)bash scripts/layers.sh

format:
	$(Q)clang-format -i $(LINT_FILES)

# ---- generated sources ------------------------------------------------------
$(BUILD)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto
	$(call msg,PROTOC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(BUILD)/proto $<

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h $(wildcard bpf/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(BUILD)/%.lskel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,LSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton -L $< name $(subst -,_,$*)_lskel > $@

# ---- objects -----------------------------------------------------------------
$(BUILD)/obj/%.o: %.c | $(GEN_H)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/proto/%.o: $(BUILD)/proto/%.c | $(GEN_H)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused -c $< -o $@

$(LIBFERRY): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FERRY): $(CLI_OBJS) $(LIBFERRY)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(CLI_OBJS) $(LIBFERRY) $(LDLIBS)

$(TESTBIN): $(TEST_OBJS) $(LIBFERRY)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $(TEST_OBJS) $(LIBFERRY) $(LDLIBS) -lcriterion

# Workloads are plain programs: no libferry, static-free, built for ptrace tests.
$(BUILD)/workloads/%: selftests/workloads/%.c selftests/pattern.h selftests/stream_pattern.h
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -D_GNU_SOURCE -std=gnu11 $(WARN) -Iselftests -O1 -g -o $@ $< -lpthread -lm

# The test VM's PID 1 (scripts/vm-run.sh): static, nothing from libferry.
$(BUILD)/vm/init: selftests/vm/init.c
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -D_GNU_SOURCE -std=gnu11 -static -O2 $(WARN) -o $@ $<

# A bench is bench/NAME.c, with its parts in bench/NAME/ if it has any.
$(foreach b,$(BENCHES),$(eval $(b): $(wildcard bench/$(notdir $(b))/*.[ch])))
$(BUILD)/bench/%: bench/%.c bench/bench_util.h $(LIBFERRY)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) $(LIBFERRY) $(LDLIBS)

# Fuzzers: the library sources compiled again with clang + libFuzzer + ASan.
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJS := $(patsubst %.c,$(BUILD)/fuzzobj/%.o,$(LIB_SRCS:$(BUILD)/%=%))

$(BUILD)/fuzzobj/%.o: %.c | $(GEN_H)
	$(call msg,CC-FUZZ,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -std=gnu11 $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzzobj/proto/%.o: $(BUILD)/proto/%.c | $(GEN_H)
	$(call msg,CC-FUZZ,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -std=gnu11 $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/%: selftests/fuzz/%.c $(FUZZ_LIB_OBJS)
	$(call msg,LD-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_OBJS) $(LDLIBS)

-include $(shell find $(BUILD)/obj $(BUILD)/fuzzobj -name '*.d' 2>/dev/null)
