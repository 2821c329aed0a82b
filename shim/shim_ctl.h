/* shim_ctl.h - VMs without warmpoold (config vm_source "clone" or "cold"):
 * the shim runs warmpoolctl, which links the factory the shim does not, to
 * clone (or cold-boot) a VM it keeps, and later to destroy it.
 *
 *   warmpoolctl ARGS... --json clone TEMPLATE --keep [--cold]
 *   warmpoolctl ARGS... vm destroy ID
 *
 * Each command runs to its end (the caller's thread waits: a clone takes
 * ~0.3 s under TCG, a cold boot seconds). A failure carries the last line
 * warmpoolctl wrote to stderr. */
#ifndef SHIM_CTL_H
#define SHIM_CTL_H

#include "pool_types.h" /* pool_vm_info_t */
#include "shim_config.h"
#include "wp_error.h"

/* A VM of template_name, kept running: id, agent endpoint, shared dir, pid. */
int shim_ctl_make_vm(const shim_config_t *cfg, const char *template_name, pool_vm_info_t *out,
                     wp_error_t *err);
/* Destroy the VM id (made by shim_ctl_make_vm, by this or an earlier shim). */
int shim_ctl_destroy_vm(const shim_config_t *cfg, const char *id, wp_error_t *err);

#endif
