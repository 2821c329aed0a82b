/* lv_xml.h - libvirt domain XML for a warmpool VM, written with libxml2's
 * text writer (every value escaped), so a path with a quote or '&' stays one
 * value.
 *
 * The machine itself is libvirt's (devices, PCI layout, ACPI, vmgenid, the
 * agent channel, the 9p share); only the guest RAM goes around libvirt, as
 * <qemu:commandline> arguments: a memory-backend-file on the template's
 * memory file (share=on for a template, share=off for a clone, so a clone's
 * writes stay private) made the machine's RAM, and for a clone
 * `-incoming defer` so its device state can be loaded from a file
 * descriptor. Template and clones come from the same function, so their
 * device layouts match, which the migration stream requires.
 *
 * What libvirt does per start that a clone does not need is cut where the
 * XML can (docs/benchmarks.md, "Backends"): <qemu:capabilities> drops
 * "cpu-unavailable-features", so libvirt reads the started vCPU's features
 * in two QMP calls instead of ~400; the agent device and the 9p share sit
 * on pcie.0 at fixed slots, as with the QEMU backend, so libvirt adds no
 * pcie-root-port (three, a spare for hotplug among them); no USB
 * controller, no balloon. ACPI stays: vmgenid's change notification
 * reaches the guest through it.
 *
 * Pure functions: no libvirt call, no I/O. */
#ifndef LV_XML_H
#define LV_XML_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */

#include "hv_backend.h" /* hv_spec_check, HV_AGENT_SOCK */

#define LV_DOMAIN_PREFIX   "warmpool-" /* libvirt name: prefix + VM id */
#define LV_DOMAIN_NAME_MAX 80
#define LV_MEMORY_ID       "wpmem" /* the memory-backend-file object's id */
#define LV_SHARE_TAG       "warmpool"
#define LV_SLOT_AGENT      "0x02" /* pcie.0 slot: virtio-serial controller or vsock */
#define LV_SLOT_SHARE      "0x03" /* pcie.0 slot: the 9p share */
/* the QEMU capability the domain drops (lv_xml.c, write_capabilities) */
#define LV_CAP_PER_FEATURE_CPU_PROBE "cpu-unavailable-features"

typedef enum lv_mode {
    LV_MODE_BOOT = 0,     /* run the kernel */
    LV_MODE_INCOMING = 1, /* wait for device state (clone) */
} lv_mode_t;

/* What the XML needs beyond the spec. */
typedef struct lv_xml_options {
    const char *emulator; /* absolute path of the QEMU binary */
    lv_mode_t mode;
} lv_xml_options_t;

/* The domain's libvirt name for VM id, into out (LV_DOMAIN_NAME_MAX bytes). */
void lv_domain_name(const char *id, char *out, size_t len);

/* The domain XML (malloc'd, NUL-terminated; caller frees). EINVAL on a spec
 * hv_spec_check refuses. */
char *lv_domain_xml(const hv_vm_spec_t *spec, const lv_xml_options_t *opt, wp_error_t *err);

/* What a VM of this spec is made of, for hv_describe (device names). */
void lv_xml_devices(const hv_vm_spec_t *spec, hv_description_t *out);

#endif
