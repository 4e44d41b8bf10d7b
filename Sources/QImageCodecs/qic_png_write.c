// Paletted PNG encoding with libpng into a malloc'ed buffer (qinfer --mask): errors longjmp back to
// qic_png_encode_palette and come out as a return code and a message.
#include "qic_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>

typedef struct qic_png_sink {
    uint8_t *bytes;
    size_t count, capacity;
    char *message;
} qic_png_sink;

static void qic_png_write_bytes(png_structp png, png_bytep data, size_t length) {
    qic_png_sink *sink = png_get_io_ptr(png);
    if (length > sink->capacity - sink->count) {
        size_t capacity = sink->capacity ? sink->capacity : 4096;
        while (length > capacity - sink->count) {
            if (capacity > ((size_t)1 << 40)) png_error(png, "output too large");
            capacity *= 2;
        }
        uint8_t *grown = realloc(sink->bytes, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->bytes = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->bytes + sink->count, data, length);
    sink->count += length;
}

static void qic_png_write_flush(png_structp png) { (void)png; }

static void qic_png_write_fail(png_structp png, png_const_charp text) {
    qic_png_sink *sink = png_get_io_ptr(png);
    snprintf(sink->message, sizeof(((qic_encoded *)0)->message), "PNG encoding failed: %s", text);
    png_longjmp(png, 1);
}

static void qic_png_write_warn(png_structp png, png_const_charp text) { (void)png, (void)text; }

int qic_png_encode_palette(const uint8_t *indices, int width, int height, const uint8_t *palette_rgb,
                           int palette_count, qic_encoded *out) {
    memset(out, 0, sizeof *out);
    if (width < 1 || height < 1 || width > (1 << 24) || height > (1 << 24) || palette_count < 1 || palette_count > 256) {
        snprintf(out->message, sizeof out->message, "bad PNG geometry %dx%d with %d palette entries", width, height, palette_count);
        return -1;
    }
    for (size_t i = 0; i < (size_t)width * (size_t)height; i++) {
        if (indices[i] >= palette_count) {
            snprintf(out->message, sizeof out->message, "palette index %d at pixel %zu is not below %d", indices[i], i, palette_count);
            return -1;
        }
    }
    qic_png_sink sink = {NULL, 0, 0, out->message};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, qic_png_write_fail, qic_png_write_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(out->message, sizeof out->message, "cannot initialise libpng");
        png_destroy_write_struct(png ? &png : NULL, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        free(sink.bytes);
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, &sink, qic_png_write_bytes, qic_png_write_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color colors[256];
    for (int i = 0; i < palette_count; i++) {
        colors[i].red = palette_rgb[3 * i];
        colors[i].green = palette_rgb[3 * i + 1];
        colors[i].blue = palette_rgb[3 * i + 2];
    }
    png_set_PLTE(png, info, colors, palette_count);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(indices + (size_t)y * (size_t)width));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    out->bytes = sink.bytes;
    out->count = sink.count;
    return 0;
}

void qic_encoded_free(qic_encoded *encoded) {
    free(encoded->bytes);
    encoded->bytes = NULL;
    encoded->count = 0;
}
