// JPEG and PNG decoding through the system's libjpeg(-turbo) and libpng, with their longjmp error handling
// kept inside C so that every failure comes back to Swift as a return code and a message.
#ifndef QIC_CODECS_H
#define QIC_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A decoded image: `height` rows of `width` pixels of `channels` samples (1 gray, 3 RGB), interleaved.
/// 8-bit samples are one byte each; 16-bit samples are two bytes, big-endian (PNG's byte order).
/// `pixels` is malloc'ed by the decoder and released with qic_image_free.
typedef struct qic_image {
    int width;
    int height;
    int channels;
    int bits_per_sample;  // 8 or 16
    uint8_t *pixels;
    char message[256];    // why decoding failed (empty on success)
} qic_image;

/// Decodes a baseline or progressive JPEG (gray, YCbCr or RGB; CMYK is refused) to 8-bit gray or RGB.
/// Refuses images with a side above `max_side` or more than `max_samples` samples before allocating them.
/// Every libjpeg warning about damaged data (truncation, corrupt entropy data) is an error; stray bytes
/// between segments are tolerated.
/// Returns 0 on success, -1 with `out->message` set otherwise (out->pixels is then NULL).
int qic_jpeg_decode(const uint8_t *bytes, size_t count, int max_side, size_t max_samples, qic_image *out);

/// Decodes a PNG of any colour type and depth: palette -> RGB, gray 1/2/4 bits -> 8, alpha dropped,
/// 16-bit kept as 16-bit. Limits and return value as qic_jpeg_decode; CRC errors and truncation fail.
int qic_png_decode(const uint8_t *bytes, size_t count, int max_side, size_t max_samples, qic_image *out);

/// Frees `image->pixels` (safe on a failed or already freed image).
void qic_image_free(qic_image *image);

/// An encoded file: `count` bytes malloc'ed by the encoder, released with qic_encoded_free.
typedef struct qic_encoded {
    uint8_t *bytes;
    size_t count;
    char message[256];    // why encoding failed (empty on success)
} qic_encoded;

/// Encodes `height` rows of `width` palette indices (8-bit, each below `palette_count`, 1...256) as a
/// paletted PNG (colour type 3, depth 8) whose palette is `palette_rgb` (3 bytes per entry).
/// Returns 0 on success, -1 with `out->message` set otherwise (out->bytes is then NULL).
int qic_png_encode_palette(const uint8_t *indices, int width, int height, const uint8_t *palette_rgb,
                           int palette_count, qic_encoded *out);

/// Frees `encoded->bytes` (safe on a failed or already freed result).
void qic_encoded_free(qic_encoded *encoded);

#ifdef __cplusplus
}
#endif

#endif
