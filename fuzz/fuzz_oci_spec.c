/* fuzz_oci_spec.c - the agent's rewriting of a container's OCI spec
 * (agent/agent_crun.c: terminal, cgroupsPath, personality, hooks) on any
 * text the host could send: rewritten or refused with EINVAL. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "agent_crun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (text == NULL)
        return 0;
    wp_error_t err = {0};
    bool hooks = false;
    char *out = agent_spec_prepare(text, "fuzz", (size & 1) != 0, &hooks, &err);
    if (out == NULL && err.msg[0] == '\0')
        __builtin_trap();
    free(out);
    out = agent_process_prepare(text, false, &err);
    free(out);
    free(text);
    return 0;
}
