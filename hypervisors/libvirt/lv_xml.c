/* lv_xml.c - the domain XML (see lv_xml.h). */
#include "lv_xml.h"

#include <errno.h>            /* ENOMEM */
#include <libxml/xmlwriter.h> /* xmlTextWriter */
#include <stdio.h>            /* snprintf */
#include <stdlib.h>           /* free */
#include <string.h>           /* strlen */

#include "wp_cleanup.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

/* The writer's calls return < 0 on failure; `bad` remembers any, checked once at the end. */
typedef struct xml_out {
    xmlTextWriterPtr w;
    bool bad;
} xml_out_t;

static void check(xml_out_t *o, int rc)
{
    if (rc < 0)
        o->bad = true;
}

static void open_el(xml_out_t *o, const char *name)
{
    check(o, xmlTextWriterStartElement(o->w, BAD_CAST name));
}

static void close_el(xml_out_t *o)
{
    check(o, xmlTextWriterEndElement(o->w));
}

static void attr(xml_out_t *o, const char *name, const char *value)
{
    check(o, xmlTextWriterWriteAttribute(o->w, BAD_CAST name, BAD_CAST value));
}

static void text_el(xml_out_t *o, const char *name, const char *value)
{
    check(o, xmlTextWriterWriteElement(o->w, BAD_CAST name, BAD_CAST value));
}

/* <name a1='v1' ...'/>, attributes as NULL-terminated name/value pairs */
static void empty_el(xml_out_t *o, const char *name, const char *const *attrs)
{
    open_el(o, name);
    for (size_t i = 0; attrs != NULL && attrs[i] != NULL; i += 2)
        attr(o, attrs[i], attrs[i + 1]);
    close_el(o);
}

static void qemu_arg(xml_out_t *o, const char *value)
{
    check(o, xmlTextWriterStartElementNS(o->w, BAD_CAST "qemu", BAD_CAST "arg", NULL));
    attr(o, "value", value);
    close_el(o);
}

void lv_domain_name(const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s%s", LV_DOMAIN_PREFIX, id);
}

static void write_os(xml_out_t *o, const hv_vm_spec_t *spec)
{
    open_el(o, "os");
    open_el(o, "type");
    attr(o, "arch", "x86_64");
    attr(o, "machine", spec->machine);
    check(o, xmlTextWriterWriteString(o->w, BAD_CAST "hvm"));
    close_el(o);
    text_el(o, "kernel", spec->kernel);
    if (spec->initrd != NULL)
        text_el(o, "initrd", spec->initrd);
    if (spec->cmdline != NULL)
        text_el(o, "cmdline", spec->cmdline);
    close_el(o);
    /* ACPI carries the vmgenid change notification to the guest */
    open_el(o, "features");
    empty_el(o, "acpi", NULL);
    close_el(o);
}

/* "max" is libvirt's mode='maximum'; any other name a custom model. */
static void write_cpu(xml_out_t *o, const hv_vm_spec_t *spec)
{
    open_el(o, "cpu");
    if (strcmp(spec->cpu_model, "max") == 0) {
        attr(o, "mode", "maximum");
        attr(o, "check", "none");
    } else {
        attr(o, "mode", "custom");
        attr(o, "match", "exact");
        attr(o, "check", "none");
        open_el(o, "model");
        attr(o, "fallback", "forbid");
        check(o, xmlTextWriterWriteString(o->w, BAD_CAST spec->cpu_model));
        close_el(o);
    }
    close_el(o);
}

/* <address> on pcie.0 (the root complex) at slot: an integrated endpoint,
 * so libvirt adds no pcie-root-port for it (see lv_xml.h). */
static void pci_address(xml_out_t *o, const char *slot)
{
    empty_el(o, "address",
             (const char *const[]){"type", "pci", "domain", "0x0000", "bus", "0x00", "slot", slot,
                                   "function", "0x0", NULL});
}

static void write_devices(xml_out_t *o, const hv_vm_spec_t *spec, const lv_xml_options_t *opt)
{
    char path[PATH_MAX + 32], num[32];
    open_el(o, "devices");
    text_el(o, "emulator", opt->emulator);
    /* the serial console goes to a file, as with the QEMU backend */
    open_el(o, "serial");
    attr(o, "type", "file");
    snprintf(path, sizeof(path), "%s/%s", spec->runtime_dir, HV_CONSOLE);
    empty_el(o, "source", (const char *const[]){"path", path, NULL});
    close_el(o);
    if (spec->agent_transport == HV_AGENT_VSOCK) {
        open_el(o, "vsock");
        attr(o, "model", "virtio");
        snprintf(num, sizeof(num), "%u", spec->vsock_cid);
        empty_el(o, "cid", (const char *const[]){"auto", "no", "address", num, NULL});
        pci_address(o, LV_SLOT_AGENT);
        close_el(o);
    } else {
        open_el(o, "controller");
        attr(o, "type", "virtio-serial");
        attr(o, "index", "0");
        pci_address(o, LV_SLOT_AGENT);
        close_el(o);
        /* QEMU listens on the socket (mode='bind'); the host's agent client connects */
        open_el(o, "channel");
        attr(o, "type", "unix");
        snprintf(path, sizeof(path), "%s/%s", spec->runtime_dir, HV_AGENT_SOCK);
        empty_el(o, "source", (const char *const[]){"mode", "bind", "path", path, NULL});
        empty_el(o, "target",
                 (const char *const[]){"type", "virtio", "name", HV_AGENT_PORT_NAME, NULL});
        close_el(o);
    }
    if (spec->share_dir != NULL) {
        /* squash: QEMU's security_model=none, as the QEMU backend uses */
        open_el(o, "filesystem");
        attr(o, "type", "mount");
        attr(o, "accessmode", "squash");
        attr(o, "multidevs", "remap"); /* as the QEMU backend: bind-mounted rootfs */
        empty_el(o, "source", (const char *const[]){"dir", spec->share_dir, NULL});
        empty_el(o, "target", (const char *const[]){"dir", LV_SHARE_TAG, NULL});
        pci_address(o, LV_SLOT_SHARE);
        close_el(o);
    }
    /* nothing the guest does not use: each device costs start time and state */
    empty_el(o, "controller", (const char *const[]){"type", "usb", "model", "none", NULL});
    empty_el(o, "memballoon", (const char *const[]){"model", "none", NULL});
    close_el(o);
}

/* The guest RAM on the template's memory file, and -incoming defer for a clone. */
static void write_commandline(xml_out_t *o, const hv_vm_spec_t *spec, const lv_xml_options_t *opt)
{
    _cleanup_free_ char *mem = hv_opts_escape(spec->memory_file);
    if (mem == NULL) {
        o->bad = true;
        return;
    }
    char object[PATH_MAX * 2 + 128];
    snprintf(object, sizeof(object), "memory-backend-file,id=%s,size=%uM,mem-path=%s,share=%s",
             LV_MEMORY_ID, spec->memory_mib, mem, spec->memory_shared ? "on" : "off");
    check(o, xmlTextWriterStartElementNS(o->w, BAD_CAST "qemu", BAD_CAST "commandline", NULL));
    qemu_arg(o, "-object");
    qemu_arg(o, object);
    qemu_arg(o, "-machine");
    qemu_arg(o, "memory-backend=" LV_MEMORY_ID);
    if (opt->mode == LV_MODE_INCOMING) {
        qemu_arg(o, "-incoming");
        qemu_arg(o, "defer");
    }
    close_el(o);
}

/* After starting QEMU, libvirt reads the vCPU's features back
 * (qemuProcessFetchGuestCPU, qemu_process.c). Where QEMU has the
 * "cpu-unavailable-features" capability it does so one qom-get per feature:
 * ~400 QMP round trips, most of a libvirt start (docs/benchmarks.md,
 * "Backends"). Without it libvirt takes its x86 path: the feature-words and
 * filtered-features properties, two qom-gets saying the same on x86. */
static void write_capabilities(xml_out_t *o)
{
    check(o, xmlTextWriterStartElementNS(o->w, BAD_CAST "qemu", BAD_CAST "capabilities", NULL));
    check(o, xmlTextWriterStartElementNS(o->w, BAD_CAST "qemu", BAD_CAST "del", NULL));
    attr(o, "capability", LV_CAP_PER_FEATURE_CPU_PROBE);
    close_el(o);
    close_el(o);
}

static void write_domain(xml_out_t *o, const hv_vm_spec_t *spec, const lv_xml_options_t *opt)
{
    char name[LV_DOMAIN_NAME_MAX], num[32];
    lv_domain_name(spec->id, name, sizeof(name));
    open_el(o, "domain");
    attr(o, "type", "qemu"); /* TCG, as the QEMU backend's accel=tcg */
    check(o, xmlTextWriterWriteAttributeNS(o->w, BAD_CAST "xmlns", BAD_CAST "qemu", NULL,
                                           BAD_CAST QEMU_NS));
    text_el(o, "name", name);
    if (spec->vmgenid != NULL)
        text_el(o, "genid", spec->vmgenid);
    else
        empty_el(o, "genid", NULL);
    open_el(o, "memory");
    attr(o, "unit", "MiB");
    snprintf(num, sizeof(num), "%u", spec->memory_mib);
    check(o, xmlTextWriterWriteString(o->w, BAD_CAST num));
    close_el(o);
    snprintf(num, sizeof(num), "%u", spec->vcpus);
    text_el(o, "vcpu", num);
    write_os(o, spec);
    write_cpu(o, spec);
    empty_el(o, "clock", (const char *const[]){"offset", "utc", NULL});
    /* a guest that stops is gone: the pool replaces it */
    text_el(o, "on_poweroff", "destroy");
    text_el(o, "on_reboot", "destroy");
    text_el(o, "on_crash", "destroy");
    /* QEMU runs as root without relabelling: every clone maps the template's
     * memory file and reads its kernel, and libvirt's DAC driver would chown
     * those shared files per domain (docs/architecture.md, libvirt backend) */
    open_el(o, "seclabel");
    attr(o, "type", "static");
    attr(o, "model", "dac");
    attr(o, "relabel", "no");
    text_el(o, "label", "+0:+0");
    close_el(o);
    write_devices(o, spec, opt);
    write_commandline(o, spec, opt);
    write_capabilities(o);
    close_el(o);
}

char *lv_domain_xml(const hv_vm_spec_t *spec, const lv_xml_options_t *opt, wp_error_t *err)
{
    if (hv_spec_check(spec, err) < 0)
        return NULL;
    xmlBufferPtr buf = xmlBufferCreate();
    if (buf == NULL) {
        wp_error_errno(err, ENOMEM, "VM '%s': domain XML", spec->id);
        return NULL;
    }
    xml_out_t o = {.w = xmlNewTextWriterMemory(buf, 0)};
    if (o.w == NULL) {
        xmlBufferFree(buf);
        wp_error_errno(err, ENOMEM, "VM '%s': domain XML", spec->id);
        return NULL;
    }
    check(&o, xmlTextWriterSetIndent(o.w, 1));
    check(&o, xmlTextWriterSetIndentString(o.w, BAD_CAST "  "));
    write_domain(&o, spec, opt);
    check(&o, xmlTextWriterEndDocument(o.w));
    xmlFreeTextWriter(o.w); /* flushes into buf */
    char *out = o.bad ? NULL : strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    if (out == NULL)
        wp_error_errno(err, ENOMEM, "VM '%s': domain XML", spec->id);
    return out;
}

static void add_device(hv_description_t *out, const char *name)
{
    if (out->n_devices < HV_MAX_DEVICES)
        snprintf(out->devices[out->n_devices++], sizeof(out->devices[0]), "%s", name);
}

void lv_xml_devices(const hv_vm_spec_t *spec, hv_description_t *out)
{
    out->n_devices = 0;
    add_device(out, "libvirt-domain");
    add_device(out, "memory-backend-file");
    add_device(out, "genid");
    /* with their PCI places: a template built with another layout is refused
     * (factory_validate) rather than failing its clones' migration */
    if (spec->agent_transport == HV_AGENT_VSOCK) {
        add_device(out, "vsock@pcie.0:" LV_SLOT_AGENT);
    } else {
        add_device(out, "virtio-serial@pcie.0:" LV_SLOT_AGENT);
        add_device(out, "virtserialport:" HV_AGENT_PORT_NAME);
    }
    if (spec->share_dir != NULL)
        add_device(out, "filesystem:9p@pcie.0:" LV_SLOT_SHARE);
}
