/* fuzz_pool_config.c - warmpoold's configuration file
 * (pool/core/pool_config.c): any text parses or fails with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "pool_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (text == NULL)
        return 0;
    wp_error_t err = {0};
    pool_config_t *c = pool_config_parse(text, "<fuzz>", &err);
    if (c == NULL && err.msg[0] == '\0')
        __builtin_trap(); /* a refusal always says why */
    pool_config_free(c);
    free(text);
    return 0;
}
