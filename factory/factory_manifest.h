/* factory_manifest.h - a template's manifest: what was built, from what, on
 * what, and what a clone must match. Stored as manifest.json (jansson).
 * Parsing is strict: a missing or mistyped field is an error naming it. */
#ifndef FACTORY_MANIFEST_H
#define FACTORY_MANIFEST_H

#include <limits.h> /* PATH_MAX */
#include <stdint.h> /* uint64_t */

#include "factory_digest.h"
#include "hv.h"
#include "wp_error.h"

#define FACTORY_MANIFEST_FORMAT 1

typedef struct factory_file_record {
    char file[64]; /* name inside the template directory */
    uint64_t size;
    char sha256[FACTORY_SHA256_HEX];
} factory_file_record_t;

typedef struct factory_manifest {
    int format;
    char name[64];
    char created[32]; /* UTC, RFC 3339 */
    hv_description_t hv;
    char cmdline[1024];
    hv_agent_transport_t transport;
    factory_file_record_t kernel, initrd, state;
    char memory_file[PATH_MAX]; /* absolute */
    uint64_t memory_size;
    char vmgenid[40];           /* the template's own generation id */
    char agent_version[32];
    char agent_boot_id[40];
    unsigned agent_protocol;
    char source_kernel[PATH_MAX]; /* where the build took them from: for the rebuild hint */
    char source_initrd[PATH_MAX];
    double boot_to_agent_ms; /* build timings, for operators */
    double save_ms;
} factory_manifest_t;

/* Serialise (malloc'd text, caller frees). */
char *factory_manifest_to_json(const factory_manifest_t *m, wp_error_t *err);
/* Parse and check the format; every field is required. */
int factory_manifest_from_json(const char *text, factory_manifest_t *out, wp_error_t *err);

/* "warmpoolctl template build NAME --kernel ... --force": how to rebuild. */
void factory_manifest_rebuild_hint(const factory_manifest_t *m, char *out, size_t len);

#endif
