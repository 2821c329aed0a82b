/* fuzz_runtime_options.c - the runtime options containerd hands the shim's
 * Create (shim/shim_options.c): any Any value of the runtimeoptions type
 * yields a path, nothing, or a clear error. */
#include <stddef.h>
#include <stdint.h>

#include "shim_options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Containerd__Task__V2__Any any = CONTAINERD__TASK__V2__ANY__INIT;
    any.type_url = "runtimeoptions.v1.Options";
    any.value.data = (uint8_t *)data;
    any.value.len = size;
    char path[256];
    wp_error_t err = {0};
    int r = shim_options_config_path(&any, path, sizeof(path), &err);
    if ((r == 1 && path[0] != '/') || (r < 0 && err.msg[0] == '\0'))
        __builtin_trap();
    return 0;
}
