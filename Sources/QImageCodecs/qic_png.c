// PNG decoding with libpng: errors longjmp back to qic_png_decode; input is read from memory.
#include "qic_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>

typedef struct qic_png_source {
    const uint8_t *bytes;
    size_t count, position;
    char *message;
} qic_png_source;

static void qic_png_read(png_structp png, png_bytep data, size_t length) {
    qic_png_source *src = png_get_io_ptr(png);
    if (length > src->count - src->position) png_error(png, "truncated file (read past the end)");
    memcpy(data, src->bytes + src->position, length);
    src->position += length;
}

static void qic_png_fail(png_structp png, png_const_charp text) {
    qic_png_source *src = png_get_io_ptr(png);
    snprintf(src->message, sizeof(((qic_image *)0)->message), "corrupt PNG: %s", text);
    png_longjmp(png, 1);
}

static void qic_png_warn(png_structp png, png_const_charp text) { (void)png, (void)text; }

int qic_png_decode(const uint8_t *bytes, size_t count, int max_side, size_t max_samples, qic_image *out) {
    memset(out, 0, sizeof *out);
    if (count < 8 || png_sig_cmp(bytes, 0, 8)) {
        snprintf(out->message, sizeof out->message, "not a PNG file (bad signature)");
        return -1;
    }
    qic_png_source src = {bytes, count, 0, out->message};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, qic_png_fail, qic_png_warn);
    if (!png) {
        snprintf(out->message, sizeof out->message, "cannot initialise libpng");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info) snprintf(out->message, sizeof out->message, "cannot initialise libpng");
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        return -1;
    }
    png_set_read_fn(png, &src, qic_png_read);
    png_set_user_limits(png, (png_uint_32)max_side, (png_uint_32)max_side);
    png_set_chunk_malloc_max(png, 64u << 20);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    // Alpha channels, and the alpha that expanding a palette with tRNS creates, are dropped.
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    int bits = png_get_bit_depth(png, info);
    if ((channels != 1 && channels != 3) || (bits != 8 && bits != 16)) {
        png_error(png, "unexpected layout after conversion");
    }
    size_t samples = (size_t)width * height * (size_t)channels;
    if (samples > max_samples) {
        snprintf(out->message, sizeof out->message, "PNG size %ux%ux%d has too many samples (limit %zu)",
                 width, height, channels, max_samples);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    size_t stride = png_get_rowbytes(png, info);
    pixels = malloc(stride * height);
    rows = malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * stride;
    png_read_image(png, rows);
    free(rows);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->bits_per_sample = bits;
    out->pixels = pixels;
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}
