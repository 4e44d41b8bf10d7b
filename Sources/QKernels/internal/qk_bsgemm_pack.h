/* qk_bsgemm_pack.h — the activation row packer of this CPU, for drivers that pack many rows
 * (qk_bsconv_pack_image picks it once per image). Private. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/** Packs one row of C codes (low ab bits) into ceil(C/64) groups of ab plane words at out. */
typedef void (*qk_bsgemm_row_packer)(const uint8_t* a, size_t C, int ab, uint64_t* out);
/** The fastest packer the active ISA allows (AVX-512 BW, AVX2, portable C); all write the same bits. */
qk_bsgemm_row_packer qk_bsgemm_packer(void);
