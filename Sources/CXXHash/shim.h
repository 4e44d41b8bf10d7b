// The stable API only (no XXH_STATIC_LINKING_ONLY): the XXH64 state is opaque and heap-allocated.
#include <xxhash.h>
