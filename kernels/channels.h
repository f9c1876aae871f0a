// channels: the index arithmetic of copies that change a tensor's number of
// channels, shared by the kernels (channels.cu) and the CPU test that checks
// them (tests/test_channels.c). The CUDA backend runs a convolution whose
// input has too few channels for cuDNN's tensor-core kernels on copies
// zero-padded to CHANNELS_ALIGN (backend_cuda.c, "narrow inputs"), and
// takes the real channels back out of the padded filter gradient. Indices
// are 32-bit: the backend checks that every tensor has fewer than 2^31
// elements.
#ifndef SIAMESE_KERNELS_CHANNELS_H
#define SIAMESE_KERNELS_CHANNELS_H

#ifdef __CUDACC__
#define CHANNELS_FN __host__ __device__ static inline
#else
#define CHANNELS_FN static inline
#endif

// Input channels a convolution is padded to: 8 (16 bytes of bfloat16, 32
// of float32), which every tensor-core configuration of cuDNN accepts.
#define CHANNELS_ALIGN 8

// Element i of an activation (rows, dst_c) made from one of (rows, src_c),
// both channels-last: the index of its source element, or -1 where dst
// has a channel that src has not (a zero).
CHANNELS_FN int channels_source(unsigned i, int dst_c, int src_c) {
    const unsigned row = i / (unsigned)dst_c, ch = i % (unsigned)dst_c;
    return ch < (unsigned)src_c ? (int)(row * (unsigned)src_c + ch) : -1;
}

// Element i of a 3x3 conv kernel of dst_c input and k_out output channels,
// in cuDNN's layout (K,3,3,C) when dst_krsc, else in Keras's (3,3,C,K),
// made from a kernel of src_c input channels in its own layout: the index
// of its source element, or -1 for an input channel src has not (a zero).
CHANNELS_FN int kernel_channels_source(unsigned i, int dst_c, int dst_krsc, int src_c,
                                       int src_krsc, int k_out) {
    unsigned k, tap, ch;  // output channel, tap of the 3x3 window (0..8), input channel
    if (dst_krsc) {
        k = i / (9u * (unsigned)dst_c), tap = i / (unsigned)dst_c % 9u, ch = i % (unsigned)dst_c;
    } else {
        tap = i / ((unsigned)dst_c * (unsigned)k_out), ch = i / (unsigned)k_out % (unsigned)dst_c;
        k = i % (unsigned)k_out;
    }
    if (ch >= (unsigned)src_c) return -1;
    return (int)(src_krsc ? (k * 9u + tap) * (unsigned)src_c + ch
                          : (tap * (unsigned)src_c + ch) * (unsigned)k_out + k);
}

#endif
