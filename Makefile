# siamese: image similarity with a Siamese VGG16 network, in C.
#   make            the CPU program ./siamese (+ libsiamese_cuda.so when nvcc is found,
#                   + libsiamese_mpi.so when mpicc is found: training on several processes)
#   make setup      install the Debian packages, then build
#   make test       every test CI runs (also under AddressSanitizer + UBSan, in build-asan/,
#                   and the threaded parts under ThreadSanitizer, in build-tsan/)
#   make fuzz       the libFuzzer harnesses, FUZZ_SECONDS (300) each; fuzz-smoke: 60 s each
#   make bench      CPU benchmark against PyTorch (see bench/)
#   make bench-gallery  the gallery index's search: agreement, a million entries (see bench/)
# NO_CUDA=1 leaves the CUDA backend out; NO_MPI=1 leaves MPI and NCCL out.

CC      ?= cc
CFLAGS  ?= -O2 -g
# -ffp-contract=off: no multiply-add is fused behind the code's back, so code
# built for AVX-512 (which has FMA) rounds as its AVX2 and plain builds do
# (engine/winograd.c's transforms; gemm.c's kernels use FMA explicitly).
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -ffp-contract=off -fopenmp -pthread -MMD -MP $(SANITIZE)
CPPFLAGS += $(shell pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial) \
            -I/usr/include/stb -I/usr/include/x86_64-linux-gnu
HDF5_LIBS := $(shell pkg-config --libs hdf5 2>/dev/null || echo -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5)
LDLIBS  += $(HDF5_LIBS) -ljpeg -lstb -lreadline -lncursesw -ldl -lm
LDFLAGS += -fopenmp -pthread $(SANITIZE)

# The sanitizer build (make test runs it) sets BUILD=build-asan,
# PROG=build-asan/siamese and SANITIZE to these flags.
SANITIZE :=
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
BUILD   := build
PROG    := siamese
# (backend_cuda.c and cudnn_graph.c are the CUDA library's: cuda.mk; comm_nccl.c
# and dist_mpi.c are the CUDA and MPI libraries': cuda.mk, mpi.mk)
ENGINE_SRC := $(filter-out engine/backend_cuda.c engine/cudnn_graph.c engine/comm_nccl.c \
                engine/dist_mpi.c,$(wildcard engine/*.c))
TUI_SRC    := $(wildcard tui/*.c)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
TUI_OBJ    := $(TUI_SRC:%.c=$(BUILD)/%.o)
# The front's modules (all but main) as an archive, so tests link the ones they use.
TUI_LIB    := $(BUILD)/libsiamese_tui.a
TEST_SRC   := $(wildcard tests/test_*.c)
# (test_kernels, our CUDA kernels run on the CPU, is C++: built by cuda.mk)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(BUILD)/tests/test_kernels
# Under the sanitizers, every C test but the two that are minutes of
# arithmetic: the finite-difference gradient check (the same layers run
# forward and backward under the sanitizers in test_torch_ref) and the
# Keras reference predictions (tests/sh/asan_cli.sh loads each Keras file).
ASAN_SKIP     := tests/test_gradcheck.c tests/test_keras_ref.c
ASAN_TEST_BIN := $(patsubst tests/%.c,build-asan/tests/%,$(filter-out $(ASAN_SKIP),$(TEST_SRC)))
# Helpers the shell tests run (not tests themselves): tests/tools/*.c.
TOOL_BIN   := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))

# The Debian packages the project needs (make setup installs them).
DEBIAN_PACKAGES := build-essential pkg-config time libhdf5-dev libstb-dev libjpeg62-turbo-dev \
                   libncurses-dev libreadline-dev expect tmux python3 python3-venv clang \
                   libomp-dev valgrind libopenmpi-dev openmpi-bin hdf5-tools

NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(NO_CUDA),1)
  NVCC :=
endif
CUDA_LIB := $(if $(and $(NVCC),$(wildcard kernels/*.cu)),libsiamese_cuda.so)

.PHONY: all setup test test-unit test-expect clean bench bench-gallery model fixtures sanitize tsan fuzz fuzz-smoke
all: $(PROG) $(CUDA_LIB) model

$(PROG): $(ENGINE_OBJ) $(TUI_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Until a trained model is shipped, an untrained stand-in so predict runs.
model: siamese
	@test -f model_data/siamese_omniglot.h5 || test -f model_data/untrained_random.h5 || \
	  ./siamese init --backbone compact --seed 1 --out model_data/untrained_random.h5

-include mpi.mk
-include cuda.mk

$(TUI_LIB): $(filter-out $(BUILD)/tui/main.o,$(TUI_OBJ))
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/tests/%: tests/%.c $(ENGINE_OBJ) $(TUI_LIB) tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TUI_LIB) $(ENGINE_OBJ) $(LDLIBS)

$(BUILD)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(HDF5_LIBS) -lm

setup:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(DEBIAN_PACKAGES)
	$(MAKE) all

test: all $(TEST_BIN) $(TOOL_BIN) sanitize tsan
	@tests/run.sh $(TEST_BIN) $(ASAN_TEST_BIN) $(TSAN_TEST_BIN)

# The program and the C tests again, with AddressSanitizer and UBSan, in
# build-asan/ (tests/run.sh runs those tests too, and tests/sh/asan_*.sh
# drive that program through the bad-input tests).
sanitize:
	@$(MAKE) --no-print-directory NO_CUDA=1 BUILD=build-asan PROG=build-asan/siamese \
	  SANITIZE='$(ASAN_FLAGS)' build-asan/siamese $(ASAN_TEST_BIN)

# The threaded code again under ThreadSanitizer, in build-tsan/: the program
# (tests/sh/tsan.sh trains with it, plainly and in the dashboard) and the C
# tests of the threaded modules. Built with clang, whose OpenMP runtime
# (libomp) tells TSan about its barriers through LLVM's Archer tool
# (tests/run.sh loads it), so the parallel loops are checked too; GCC's
# libgomp is not instrumented, and every parallel loop would be a false
# report there.
TSAN_CC       ?= clang
TSAN_FLAGS    := -fsanitize=thread -fno-omit-frame-pointer
TSAN_TEST_BIN := $(patsubst %,build-tsan/tests/test_%,dashboard loader dataset eval)
tsan:
	@$(MAKE) --no-print-directory NO_CUDA=1 CC=$(TSAN_CC) BUILD=build-tsan PROG=build-tsan/siamese \
	  SANITIZE='$(TSAN_FLAGS)' build-tsan/siamese $(TSAN_TEST_BIN)

# ---- fuzzing (clang's libFuzzer) ----------------------------------------------
# Each harness tests/fuzz/fuzz_NAME.c runs for FUZZ_SECONDS on a working
# corpus in build-fuzz/corpus/NAME, seeded from tests/fuzz/corpus/NAME;
# a crash stops it and leaves the input in build-fuzz/crash-*.
FUZZ_SECONDS ?= 300
FUZZ_CC    ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
              -fopenmp -std=gnu11 -Wno-pass-failed $(CPPFLAGS)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN   := $(FUZZ_NAMES:%=build-fuzz/fuzz_%)
FUZZ_ENGINE_SRC := engine/image.c engine/imageformat.c engine/jpeg.c engine/err.c engine/text.c engine/weights.c engine/h5attr.c \
                   engine/atomicfile.c engine/plugin.c \
                   engine/gemm.c engine/winograd.c \
                   engine/model.c engine/backend.c engine/backend_cpu.c engine/backend_failure.c \
                   engine/cpuwait.c \
                   engine/profile.c \
                   engine/rng.c
FUZZ_OBJ   := $(FUZZ_ENGINE_SRC:%.c=build-fuzz/%.o) build-fuzz/stb_image_impl.o

build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c -o $@ $<
# In stb's own code UBSan's pointer-overflow and nonnull checks are off: a PNG
# whose first IDAT chunk is empty makes stb add 0 to its still-NULL data
# pointer and memcpy 0 bytes to it, undefined in C but touching no memory;
# ASan still checks every access stb makes (tests/fuzz/README.md).
build-fuzz/stb_image_impl.o: tests/fuzz/stb_image_impl.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fno-sanitize=pointer-overflow,nonnull-attribute -w -c -o $@ $<
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(HDF5_LIBS) -ljpeg -ldl -lm

# The objects stay for the next build (make would delete them as intermediates).
.SECONDARY: $(FUZZ_OBJ)

fuzz: $(FUZZ_BIN)
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)
# CI's smoke run: a fixed seed, so that a failure repeats when run again.
fuzz-smoke: $(FUZZ_BIN)
	@FUZZ_SEED=1 tests/fuzz/run.sh 60 $(FUZZ_NAMES)

# A tool, not a test: times our engine against PyTorch (bench/RESULTS.md).
bench: siamese
	@bench/run.sh
# The gallery index: two-stage against exact search, a million-entry index (bench/RESULTS.md).
bench-gallery: siamese
	@bench/gallery.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz siamese libsiamese_cuda.so libsiamese_mpi.so

# What each object and test program was built from (-MMD): a changed header
# (tests/synth.h, say) rebuilds what includes it.
-include $(ENGINE_OBJ:.o=.d) $(TUI_OBJ:.o=.d) $(TEST_BIN:=.d) $(TOOL_BIN:=.d)
