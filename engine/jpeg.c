#include "jpeg.h"

#include <setjmp.h>
#include <stdio.h>  // jpeglib.h needs FILE
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "imageformat.h"

// One decode: libjpeg's state and ours, reached from libjpeg's callbacks
// through the error manager and source manager they are given.
typedef struct JpegDecoder {
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr err;
    struct jpeg_source_mgr src;
    struct jpeg_progress_mgr progress;
    jmp_buf fail;
    int too_many_scans;
    unsigned char *rgb;    // (h,w,3), the result
    unsigned char *row;    // one decoded row, w * components
} JpegDecoder;

// libjpeg hands its callbacks the decompress struct, the decoder's first member.
static JpegDecoder *decoder_of(void *ci) { return (JpegDecoder *)ci; }

// libjpeg's errors must not exit() the process (its default): back to
// jpeg_decode, which says what libjpeg said.
static void on_error(j_common_ptr ci) { longjmp(decoder_of(ci)->fail, 1); }

// Warnings (corrupt data libjpeg goes past, such as extraneous bytes
// before a marker) are not printed and do not stop the decode: Pillow's
// output_message does nothing either.
static void on_message(j_common_ptr ci) { (void)ci; }

static void on_progress(j_common_ptr ci) {
    j_decompress_ptr d = (j_decompress_ptr)ci;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        decoder_of(ci)->too_many_scans = 1;
        longjmp(decoder_of(ci)->fail, 1);
    }
}

// ---- the source: the file in memory, suspending at its end ------------------
// The whole file is the buffer from the start. Asked for more, the source
// says "suspend" (FALSE), as Pillow's does when it has no more data: the
// libjpeg call in progress returns without its result, and jpeg_decode
// calls the file truncated, as Pillow does when its file ends there. The
// same library code decides where that happens for both.
static void source_nothing(j_decompress_ptr ci) { (void)ci; }

static boolean source_fill(j_decompress_ptr ci) {
    (void)ci;
    return FALSE;
}

static void source_skip(j_decompress_ptr ci, long n) {
    JpegDecoder *d = decoder_of(ci);
    if (n <= 0) return;
    // Past the end: nothing left, and the next read suspends.
    size_t k = (size_t)n < d->src.bytes_in_buffer ? (size_t)n : d->src.bytes_in_buffer;
    d->src.next_input_byte += k;
    d->src.bytes_in_buffer -= k;
}

// ---- Pillow's conversions -------------------------------------------------------

// Pillow's MULDIV255: a * b / 255, rounded, in integers (ImagingUtils.h).
static int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static unsigned char clip8(int v) { return v <= 0 ? 0 : v < 256 ? (unsigned char)v : 255; }

// One row of libjpeg's output (n components) into RGB.
static void row_to_rgb(const unsigned char *in, int n, int w, unsigned char *out) {
    for (int x = 0; x < w; x++, in += n, out += 3) {
        if (n == 1) {
            out[0] = out[1] = out[2] = in[0];
        } else if (n == 3) {
            memcpy(out, in, 3);
        } else {
            // Pillow reads every 4-component JPEG as "CMYK;I" (each value
            // inverted, as Adobe writes CMYK), then convert('RGB') is its
            // cmyk2rgb: channel = (255 - k) - c * (255 - k) / 255, clipped.
            const int k = 255 - in[3], nk = 255 - k;
            for (int c = 0; c < 3; c++) out[c] = clip8(nk - muldiv255(255 - in[c], nk));
        }
    }
}

// ---- decode -----------------------------------------------------------------------

static void jpeg_decoder_free(JpegDecoder *d) {
    jpeg_destroy_decompress(&d->ci);
    free(d->rgb);
    free(d->row);
    free(d);
}

// libjpeg suspended: the file ended before the image did.
static int truncated(JpegDecoder *d, const char *name, Err *e) {
    jpeg_decoder_free(d);
    return err_set(e, IMAGEFORMAT_TRUNCATED_MSG, name, "JPEG");
}

int jpeg_decode(const unsigned char *data, size_t len, const char *name, long max_pixels,
                unsigned char **rgb, int *w, int *h, Err *e) {
    *rgb = NULL;
    *w = *h = 0;
    JpegDecoder *d = calloc(1, sizeof *d);
    if (!d) return err_set(e, "%s: out of memory", name);
    d->ci.err = jpeg_std_error(&d->err);
    d->err.error_exit = on_error;
    d->err.output_message = on_message;
    if (setjmp(d->fail)) {
        char why[JMSG_LENGTH_MAX] = "";
        if (!d->too_many_scans) d->err.format_message((j_common_ptr)&d->ci, why);
        int scans = d->too_many_scans;
        jpeg_decoder_free(d);
        if (scans)
            return err_set(e, "%s: the JPEG file has more than %d scans (a progressive image "
                           "has about 10)", name, JPEG_MAX_SCANS);
        return err_set(e, "%s: the JPEG data is corrupt or not supported (libjpeg: %s)", name, why);
    }
    jpeg_create_decompress(&d->ci);
    d->src.init_source = source_nothing;
    d->src.fill_input_buffer = source_fill;
    d->src.skip_input_data = source_skip;
    d->src.resync_to_restart = jpeg_resync_to_restart;
    d->src.term_source = source_nothing;
    d->src.next_input_byte = data;
    d->src.bytes_in_buffer = len;
    d->ci.src = &d->src;
    d->progress.progress_monitor = on_progress;
    d->ci.progress = &d->progress;

    // As Pillow: headers, skipping table-only datastreams before the image.
    int got;
    while ((got = jpeg_read_header(&d->ci, FALSE)) == JPEG_HEADER_TABLES_ONLY) continue;
    if (got == JPEG_SUSPENDED) return truncated(d, name, e);
    const int comps = d->ci.num_components;
    if (comps != 1 && comps != 3 && comps != 4) {
        jpeg_decoder_free(d);
        return err_set(e, "%s: a JPEG of %d colour components; this program reads 1 (grey), 3 "
                       "(colour) or 4 (CMYK)", name, comps);
    }
    if ((double)d->ci.image_width * d->ci.image_height > (double)max_pixels) {
        long iw = (long)d->ci.image_width, ih = (long)d->ci.image_height;
        jpeg_decoder_free(d);
        return err_set(e, IMAGEFORMAT_TOO_BIG_MSG, name, iw, ih, (double)iw * ih / 1e6,
                       max_pixels / 1000000);
    }
    // What Pillow asks for: the output colour space by component count
    // (its rawmode L, RGB or CMYK;I), libjpeg's guess of the file's own
    // colour space untouched, and libjpeg's default IDCT, upsampling and
    // smoothing (set here to say so, not to change them).
    d->ci.out_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    d->ci.dct_method = JDCT_ISLOW;
    d->ci.do_fancy_upsampling = TRUE;
    d->ci.do_block_smoothing = TRUE;
    // (A progressive file's scans are all read here.)
    if (!jpeg_start_decompress(&d->ci)) return truncated(d, name, e);
    const int W = (int)d->ci.output_width, H = (int)d->ci.output_height;
    d->rgb = malloc((size_t)W * H * 3);
    d->row = malloc((size_t)W * comps);
    if (!d->rgb || !d->row) {
        jpeg_decoder_free(d);
        return err_set(e, "%s: out of memory for %dx%d pixels", name, W, H);
    }
    while (d->ci.output_scanline < d->ci.output_height) {
        JSAMPROW r = d->row;
        const int y = (int)d->ci.output_scanline;
        if (jpeg_read_scanlines(&d->ci, &r, 1) != 1) return truncated(d, name, e);
        row_to_rgb(d->row, comps, W, d->rgb + (size_t)y * W * 3);
    }
    // Every row is out: a file that ends before its end-of-image marker
    // suspends here, and is whole (Pillow stops there too).
    jpeg_finish_decompress(&d->ci);
    *rgb = d->rgb;
    *w = W;
    *h = H;
    d->rgb = NULL;
    jpeg_decoder_free(d);
    return 0;
}
