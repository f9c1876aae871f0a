# cuda.mk: the CUDA backend and the GPU check, included by the Makefile.
#
# The Makefile sets NVCC when nvcc is found (NO_CUDA=1 empties it) and then
# CUDA_LIB = libsiamese_cuda.so, which `all` builds: kernels/*.cu and
# engine/backend_cuda.c linked against cuDNN 9 and cuBLAS, with the CUDA
# runtime linked statically (so at run time only cuDNN and cuBLAS are
# looked up). backend.c loads it with dlopen; ./siamese never links CUDA.
#
#   CUDA_ARCH       code generated: sm_90 machine code (H100/H200) plus
#                   compute_90 PTX, which the driver compiles for newer GPUs
#   CUDA_INCLUDES   where cuda_runtime_api.h, cudnn.h and cublas_v2.h are
#   CUDA_LDLIBS     how cuDNN and cuBLAS are linked
#   NCCL_H          nccl.h, found in CUDA_INCLUDES: the library then sums
#                   gradients between GPUs with NCCL (see mpi.mk)
#   make gpu-bundle what a GPU machine without our Debian libraries needs to
#                   run tests/gpu/check.sh (see tests/gpu/README.md)
#   make gpu-bundle-model  the same with all of Omniglot, for tests/gpu/train_model.sh

# The programs of the GPU check; CPU-only code, always built by `make test`
# (and smoke-tested there on the CPU) so they cannot rot.
GPU_TOOLS := $(BUILD)/tests/gpu/train_compare $(BUILD)/tests/gpu/bench_model
test: $(GPU_TOOLS)
-include $(GPU_TOOLS:=.d)

# Test programs open the CUDA backend by name: let dlopen find the library
# in the repository root, where `make` puts it.
$(TEST_BIN): LDFLAGS += -Wl,-rpath,'$$ORIGIN/../..'
$(GPU_TOOLS): LDFLAGS += -Wl,-rpath,'$$ORIGIN/../../..'

ifneq ($(NVCC),)
CUDA_HOME     ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))
CUDA_ARCH     ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
CUDA_INCLUDES ?= -I$(CUDA_HOME)/include
CUDA_LDLIBS   ?= -L$(CUDA_HOME)/lib64 -lcudnn -lcublas
NVCCFLAGS     ?= -O3
NVCCFLAGS     += -std=c++17 $(CUDA_ARCH) $(CUDA_INCLUDES) -MMD -MP \
                 -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra

KERNEL_OBJ := $(patsubst %.cu,$(BUILD)/%.o,$(wildcard kernels/*.cu))
CUDA_C_OBJ := $(BUILD)/cuda/engine/backend_cuda.o $(BUILD)/cuda/engine/cudnn_graph.o \
              $(BUILD)/cuda/engine/backend_failure.o \
              $(BUILD)/cuda/engine/err.o $(BUILD)/cuda/engine/text.o \
              $(BUILD)/cuda/engine/profile.o

# NCCL for data-parallel training (mpi.mk) when its header is beside the
# toolkit's and MPI is wanted: comm_nccl.c loads libnccl.so.2 at run time,
# so the library does not need NCCL to run in one process.
NCCL_H := $(if $(filter 1,$(NO_MPI)),,$(firstword $(wildcard $(patsubst -I%,%/nccl.h,$(filter -I%,$(CUDA_INCLUDES))))))
ifneq ($(NCCL_H),)
CUDA_C_OBJ += $(BUILD)/cuda/engine/comm_nccl.o
$(BUILD)/cuda/engine/backend_cuda.o: CPPFLAGS += -DSIAMESE_NCCL
endif

$(BUILD)/kernels/%.o: kernels/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

# The library's own copies of the C files it needs (position-independent,
# symbols hidden but the entry point backend_cuda_open).
$(BUILD)/cuda/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CUDA_INCLUDES) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

# RUNPATH: the library's folder, then the toolkit's; LD_LIBRARY_PATH comes first.
$(CUDA_LIB): $(KERNEL_OBJ) $(CUDA_C_OBJ)
	$(NVCC) -shared $(CUDA_ARCH) -cudart static -o $@ $^ $(CUDA_LDLIBS) \
	  -Xlinker --no-undefined -Xlinker -rpath,'$$ORIGIN:$(CUDA_HOME)/lib64'

-include $(KERNEL_OBJ:.o=.d) $(CUDA_C_OBJ:.o=.d)
endif

# The kernels on the CPU (tests/test_kernels.cpp): each kernels/*.cu but
# check.cu compiled as host C++ with the emulator tests/kernel_emu.h, which
# needs CUDA's headers only (cuda_bf16.h's bfloat16 functions run on the
# host): no GPU, no nvcc. Without the headers the test is built to skip.
KERNEL_EMU_INCLUDE ?= $(patsubst %/cuda_bf16.h,%,$(firstword $(wildcard $(addsuffix \
                        /cuda_bf16.h,$(CUDA_HOME)/include /usr/local/cuda/include /usr/include))))
ifneq ($(KERNEL_EMU_INCLUDE),)
EMU_KERNEL_OBJ := $(patsubst kernels/%.cu,$(BUILD)/emu/kernels/%.o,\
                    $(filter-out kernels/check.cu,$(wildcard kernels/*.cu)))
# -ffp-contract=off: the host rounds every product as the CPU reference
# does (kernel_emu.h says what that leaves unchecked: nvcc's multiply-adds).
# -Wno-sign-compare: threadIdx is unsigned, and comparing it with an int is
# the kernels' idiom (nvcc does not warn about device code).
EMU_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
                -ffp-contract=off -MMD -MP \
                -I$(KERNEL_EMU_INCLUDE)
$(BUILD)/emu/kernels/%.o: kernels/%.cu tests/kernel_emu.h
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -x c++ -include tests/kernel_emu.h -c -o $@ $<
$(BUILD)/tests/test_kernels: tests/test_kernels.cpp $(EMU_KERNEL_OBJ) $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) $(LDFLAGS) -o $@ $< $(EMU_KERNEL_OBJ) $(ENGINE_OBJ) $(LDLIBS)
-include $(EMU_KERNEL_OBJ:.o=.d)
else
$(BUILD)/tests/test_kernels: tests/test_kernels.cpp
	@mkdir -p $(dir $@)
	$(CXX) -DKERNEL_EMU_NO_CUDA -o $@ $<
endif

# Omniglot for the training comparison: the project's dataset folder, or the shared copy.
OMNIGLOT ?= $(firstword $(wildcard dataset/images_background ../shared/omniglot/images_background))

.PHONY: gpu-bundle gpu-bundle-model
gpu-bundle: siamese $(CUDA_LIB) $(MPI_LIB) $(BUILD)/tests/test_backend_parity $(GPU_TOOLS)
	@test -n "$(CUDA_LIB)" || { echo "gpu-bundle needs the CUDA backend: nvcc was not found (or NO_CUDA=1)"; exit 2; }
	OMNIGLOT=$(OMNIGLOT) tests/gpu/bundle.sh gpu_carry siamese $(CUDA_LIB) $(MPI_LIB) $(BUILD)/tests/test_backend_parity $(GPU_TOOLS)

# The same with the whole of Omniglot (background and evaluation sets), for
# tests/gpu/train_model.sh: the shipped model retrained and evaluated.
OMNIGLOT_FULL ?= $(patsubst %/images_background,%,$(OMNIGLOT))
gpu-bundle-model: siamese $(CUDA_LIB) $(BUILD)/tests/test_backend_parity $(GPU_TOOLS)
	@test -n "$(CUDA_LIB)" || { echo "gpu-bundle-model needs the CUDA backend: nvcc was not found (or NO_CUDA=1)"; exit 2; }
	OMNIGLOT=$(OMNIGLOT) OMNIGLOT_FULL=$(OMNIGLOT_FULL) tests/gpu/bundle.sh gpu_carry siamese $(CUDA_LIB) $(BUILD)/tests/test_backend_parity $(GPU_TOOLS)
