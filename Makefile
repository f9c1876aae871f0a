# siamese: image similarity with a Siamese VGG16 network, in C.
#   make            the CPU program ./siamese (+ libsiamese_cuda.so when nvcc is found)
#   make setup      install the Debian packages, then build
#   make test       every test CI runs
#   make bench      CPU benchmark against PyTorch (see bench/)
# NO_CUDA=1 leaves the CUDA backend out.

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -fopenmp -pthread -MMD -MP
CPPFLAGS += $(shell pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial) \
            -I/usr/include/stb -I/usr/include/x86_64-linux-gnu
HDF5_LIBS := $(shell pkg-config --libs hdf5 2>/dev/null || echo -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5)
LDLIBS  += $(HDF5_LIBS) -lstb -lreadline -lncursesw -ldl -lm
LDFLAGS += -fopenmp -pthread

BUILD   := build
ENGINE_SRC := $(filter-out engine/backend_cuda.c,$(wildcard engine/*.c))
TUI_SRC    := $(wildcard tui/*.c)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
TUI_OBJ    := $(TUI_SRC:%.c=$(BUILD)/%.o)
# The front's modules (all but main) as an archive, so tests link the ones they use.
TUI_LIB    := $(BUILD)/libsiamese_tui.a
TEST_SRC   := $(wildcard tests/test_*.c)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

# The Debian packages the project needs (make setup installs them).
DEBIAN_PACKAGES := build-essential pkg-config time libhdf5-dev libstb-dev \
                   libncurses-dev libreadline-dev expect python3 python3-venv clang

NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(NO_CUDA),1)
  NVCC :=
endif
CUDA_LIB := $(if $(and $(NVCC),$(wildcard kernels/*.cu)),libsiamese_cuda.so)

.PHONY: all setup test test-unit test-expect clean bench model fixtures
all: siamese $(CUDA_LIB) model

siamese: $(ENGINE_OBJ) $(TUI_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Until a trained model is shipped, an untrained stand-in so predict runs.
model: siamese
	@test -f model_data/siamese_omniglot.h5 || test -f model_data/untrained_random.h5 || \
	  ./siamese init --backbone compact --seed 1 --out model_data/untrained_random.h5

-include cuda.mk

$(TUI_LIB): $(filter-out $(BUILD)/tui/main.o,$(TUI_OBJ))
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/tests/%: tests/%.c $(ENGINE_OBJ) $(TUI_LIB) tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TUI_LIB) $(ENGINE_OBJ) $(LDLIBS)

setup:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(DEBIAN_PACKAGES)
	$(MAKE) all

test: all $(TEST_BIN)
	@tests/run.sh $(TEST_BIN)

# A tool, not a test: times our engine against PyTorch (bench/RESULTS.md).
bench: siamese
	@bench/run.sh

clean:
	rm -rf $(BUILD) siamese libsiamese_cuda.so

-include $(ENGINE_OBJ:.o=.d) $(TUI_OBJ:.o=.d)
