# mpi.mk: data-parallel training over processes (engine/dist.h), included
# by the Makefile.
#
# libsiamese_mpi.so is engine/dist_mpi.c compiled by mpicc, so it works with
# the MPI it was built with (Open MPI from Debian; any MPI should do). The
# program loads it with dlopen when an MPI launcher starts it (mpirun -np
# N ./siamese train ...): ./siamese itself never links MPI, and runs alone
# without it. Built when mpicc is found; NO_MPI=1 leaves it out (and NCCL,
# cuda.mk).
#
#   MPICC     the MPI compiler wrapper (default: mpicc on the PATH)

MPICC ?= $(shell command -v mpicc 2>/dev/null)
ifeq ($(NO_MPI),1)
  MPICC :=
endif
MPI_LIB := $(if $(MPICC),libsiamese_mpi.so)
all: $(MPI_LIB)

ifneq ($(MPICC),)
# The library's own copies of the C files it needs (position-independent,
# symbols hidden but the entry point dist_mpi_open).
MPI_OBJ := $(BUILD)/mpi/engine/dist_mpi.o $(BUILD)/mpi/engine/err.o $(BUILD)/mpi/engine/text.o

$(BUILD)/mpi/%.o: %.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(MPI_LIB): $(MPI_OBJ)
	$(MPICC) -shared -o $@ $^ -Wl,--no-undefined

-include $(MPI_OBJ:.o=.d)
endif
