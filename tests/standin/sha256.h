/*
 * sha256.h: SHA-256 (FIPS 180-4) as hex, for storing pre-auth keys the way
 * headscale 0.28 does: only a prefix in clear and a digest of the rest, so
 * the stand-in's state never holds a usable key.
 */
#ifndef STANDIN_SHA256_H
#define STANDIN_SHA256_H

#include <stddef.h>

#define SHA256_HEX_LEN	64

/* Writes the digest of len bytes at data to hex as 64 lowercase digits + NUL. */
void	sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);

#endif /* STANDIN_SHA256_H */
