/* husk_pool_image.c: the pool template's program (husk_pool.c, built first and embedded by
 * husk_blob.S), handed out as a sealed, execute-only memfd. Linked into libhusk only: the
 * template links the stage itself and must not carry its own image. */
#include <stddef.h>
#include <stdint.h>

#define HUSK_EXPORT __attribute__((visibility("default")))

extern const unsigned char husk_pool_blob_start[];
extern const unsigned char husk_pool_blob_end[];

int32_t husk_sealed_memfd(const char *name, const unsigned char *start, size_t len);

HUSK_EXPORT int32_t husk_pool_memfd(void)
{
    return husk_sealed_memfd("husk-pool", husk_pool_blob_start, (size_t)(husk_pool_blob_end - husk_pool_blob_start));
}
