/* qk_bsgemm_pack.h — the activation row packer of this CPU, for drivers that pack many rows
 * (qk_bsconv_pack_image picks it once per image). Private. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/** Packs rows of C codes (row r at a + r * lda; low ab bits) into ceil(C/64) groups of ab plane words
 *  at out + r * ldo (qk_bsgemm_pack_rows' contract). */
typedef void (*qk_bsgemm_row_packer)(const uint8_t* a, size_t rows, size_t C, size_t lda, int ab, uint64_t* out,
                                     size_t ldo);
/** The fastest packer the active ISA allows (AVX-512 BW, AVX2, portable C); all write the same bits. */
qk_bsgemm_row_packer qk_bsgemm_packer(void);
