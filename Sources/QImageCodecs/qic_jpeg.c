// JPEG decoding with libjpeg: errors longjmp back to qic_jpeg_decode, never exit().
#include "qic_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct qic_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;  // the caller's qic_image.message
} qic_jpeg_error;

static void qic_jpeg_fail(j_common_ptr cinfo) {
    qic_jpeg_error *err = (qic_jpeg_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    err->base.format_message(cinfo, text);
    snprintf(err->message, sizeof(((qic_image *)0)->message), "corrupt JPEG: %s", text);
    longjmp(err->jump, 1);
}

/// msg_level -1 is a warning about damaged data ("Premature end of JPEG file", "bad Huffman code"): fail on it
/// rather than classify a half-grey image. The exception is stray bytes between segments ("N extraneous
/// bytes before marker"), which many cameras write and which leave the pixels intact. Trace messages
/// (level >= 0) are ignored.
static void qic_jpeg_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level < 0 && cinfo->err->msg_code != JWRN_EXTRANEOUS_DATA) qic_jpeg_fail(cinfo);
}

int qic_jpeg_decode(const uint8_t *bytes, size_t count, int max_side, size_t max_samples, qic_image *out) {
    memset(out, 0, sizeof *out);
    struct jpeg_decompress_struct cinfo;
    qic_jpeg_error err;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = qic_jpeg_fail;
    err.base.emit_message = qic_jpeg_message;
    err.message = out->message;
    uint8_t *volatile pixels = NULL;
    if (setjmp(err.jump)) {
        free(pixels);
        out->pixels = NULL;
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = 256L << 20;
    jpeg_mem_src(&cinfo, bytes, (unsigned long)count);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(out->message, sizeof out->message, "unsupported JPEG colour space (CMYK/YCCK); convert it to RGB");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    int gray = cinfo.num_components == 1;
    cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;  // libjpeg's default and PIL's: the same pixels as PIL decodes
    if ((int)cinfo.image_width > max_side || (int)cinfo.image_height > max_side) {
        snprintf(out->message, sizeof out->message, "JPEG size %ux%u exceeds the limit (each side at most %d)",
                 cinfo.image_width, cinfo.image_height, max_side);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    size_t channels = gray ? 1 : 3;
    size_t samples = (size_t)cinfo.image_width * cinfo.image_height * channels;
    if (samples > max_samples) {
        snprintf(out->message, sizeof out->message, "JPEG size %ux%ux%zu has too many samples (limit %zu)",
                 cinfo.image_width, cinfo.image_height, channels, max_samples);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    pixels = malloc(stride * cinfo.output_height);
    if (!pixels) {
        snprintf(out->message, sizeof out->message, "out of memory for a %ux%u JPEG", cinfo.output_width,
                 cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = cinfo.output_components;
    out->bits_per_sample = 8;
    out->pixels = pixels;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

void qic_image_free(qic_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}
