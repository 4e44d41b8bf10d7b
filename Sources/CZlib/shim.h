// ZLIB_CONST makes next_in a const pointer (zlib never writes through it).
#define ZLIB_CONST
#include <zlib.h>

// inflateInit2 is a macro (it passes the library version and sizeof(z_stream)), which Swift cannot call.
// windowBits -15: a raw DEFLATE stream (RFC 1951) with a 32 KiB window, as zip stores it.
static inline int czlib_inflate_init_raw(z_stream *stream) { return inflateInit2(stream, -15); }
