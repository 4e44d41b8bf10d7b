// jpeglib.h needs stdio.h (FILE) and size_t before it.
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
