// comm_nccl: NCCL between the GPUs of the processes of a data-parallel
// training (dist.h), part of libsiamese_cuda.so behind the backend's comm
// ops. libnccl.so.2 is loaded on first use (dlopen), so the CUDA backend
// still runs without NCCL installed, in one process.
#ifndef SIAMESE_COMM_NCCL_H
#define SIAMESE_COMM_NCCL_H

#include <cuda_runtime_api.h>
#include <stddef.h>

#include "err.h"

typedef struct NcclComm NcclComm;

// A new communicator's identity into id (len >= 128 bytes).
int nccl_comm_id(void *id, size_t len, Err *e);
// Joins the communicator id as rank of size, on the current device; every
// wait of c ends after timeout_s.
int nccl_comm_join(NcclComm **out, const void *id, size_t len, int rank, int size, double timeout_s,
                   Err *e);
// p (n floats on the device) = its sum over the ranks: queued on c's own
// stream, to start when the work queued on stream so far is done.
int nccl_comm_sum(NcclComm *c, cudaStream_t stream, float *p, size_t n, Err *e);
// Work queued on stream from now on waits for every queued sum; returns
// when they are done, or fails after the timeout.
int nccl_comm_wait(NcclComm *c, cudaStream_t stream, Err *e);
// Leaves: finishes what is queued, or with abort drops it (after a failure).
void nccl_comm_leave(NcclComm *c, int abort);

#endif
