/* test_lv_xml.c - the libvirt domain XML, read back with libxml2's parser
 * and XPath: the domain name, genid given or automatic, the guest RAM as a
 * memory-backend-file (shared for a template; private and `-incoming defer`
 * for a clone), values with quotes, '&' and commas kept whole, ACPI, the
 * agent channel or vsock, the 9p share, the PCI layout template and clones
 * must share, libvirt's per-feature CPU probe turned off, and the spec
 * checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdlib.h>
#include <string.h>

#include "lv_xml.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
#define RUN     "/run/warmpool/vms/small-0a1b2c"

static hv_vm_spec_t spec(void)
{
    return (hv_vm_spec_t){
        .id = "small-0a1b2c",
        .runtime_dir = RUN,
        .kernel = "/t/kernel",
        .initrd = "/t/initrd",
        .cmdline = "console=ttyS0 quiet",
        .vcpus = 2,
        .memory_mib = 256,
        .machine = "q35",
        .cpu_model = "max",
        .memory_file = "/dev/shm/small.mem",
        .memory_shared = true,
        .vmgenid = "6f1c2a9e-1111-4222-8333-444455556666",
        .agent_transport = HV_AGENT_SERIAL,
        .share_dir = RUN "/shared",
    };
}

static const lv_xml_options_t boot = {.emulator = "/usr/bin/qemu-system-x86_64",
                                      .mode = LV_MODE_BOOT};
static const lv_xml_options_t incoming = {.emulator = "/usr/bin/qemu-system-x86_64",
                                          .mode = LV_MODE_INCOMING};

/* A parsed domain XML and its XPath context (the qemu: namespace registered). */
typedef struct dom {
    char *text;
    xmlDocPtr doc;
    xmlXPathContextPtr ctx;
} dom_t;

static dom_t parse(const hv_vm_spec_t *s, const lv_xml_options_t *opt)
{
    wp_error_t err = {0};
    dom_t d = {.text = lv_domain_xml(s, opt, &err)};
    cr_assert_not_null(d.text, "%s", err.msg);
    d.doc = xmlReadMemory(d.text, (int)strlen(d.text), "domain.xml", NULL, XML_PARSE_NONET);
    cr_assert_not_null(d.doc, "not well-formed:\n%s", d.text);
    d.ctx = xmlXPathNewContext(d.doc);
    cr_assert_not_null(d.ctx);
    cr_assert_eq(xmlXPathRegisterNs(d.ctx, BAD_CAST "qemu", BAD_CAST QEMU_NS), 0);
    return d;
}

static void dom_free(dom_t *d)
{
    xmlXPathFreeContext(d->ctx);
    xmlFreeDoc(d->doc);
    free(d->text);
}

static int count(dom_t *d, const char *expr)
{
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, d->ctx);
    cr_assert_not_null(r, "bad XPath '%s'", expr);
    int n = r->nodesetval ? r->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(r);
    return n;
}

/* string(expr), copied into a static buffer (one value in use at a time per call site) */
static const char *str(dom_t *d, const char *expr)
{
    static char buf[8][4096];
    static int next;
    char *out = buf[next++ % 8];
    char full[512];
    snprintf(full, sizeof(full), "string(%s)", expr);
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST full, d->ctx);
    cr_assert_not_null(r, "bad XPath '%s'", expr);
    snprintf(out, sizeof(buf[0]), "%s", r->stringval ? (const char *)r->stringval : "");
    xmlXPathFreeObject(r);
    return out;
}

/* An XPath and the string value it must have. */
typedef struct expect {
    const char *xpath, *value;
} expect_t;

/* Every expectation holds, up to the {NULL, NULL} that ends the list. */
static void assert_values(dom_t *d, const expect_t *e)
{
    for (; e->xpath != NULL; e++)
        cr_assert_str_eq(str(d, e->xpath), e->value, "at %s", e->xpath);
}

/* The <qemu:arg value> list, in order, NULL-terminated (at most 15). */
static void qemu_args(dom_t *d, const char *out[16])
{
    xmlXPathObjectPtr r =
        xmlXPathEvalExpression(BAD_CAST "/domain/qemu:commandline/qemu:arg/@value", d->ctx);
    cr_assert_not_null(r);
    int n = r->nodesetval ? r->nodesetval->nodeNr : 0;
    cr_assert_lt(n, 16);
    static char vals[16][4096];
    for (int i = 0; i < n; i++) {
        xmlChar *v = xmlNodeGetContent(r->nodesetval->nodeTab[i]);
        snprintf(vals[i], sizeof(vals[i]), "%s", (const char *)v);
        xmlFree(v);
        out[i] = vals[i];
    }
    out[n] = NULL;
    xmlXPathFreeObject(r);
}

/* Index of s in args, or -1. */
static int find(const char *args[16], const char *s)
{
    for (int i = 0; args[i]; i++)
        if (strcmp(args[i], s) == 0)
            return i;
    return -1;
}

Test(lv_xml, domain_name)
{
    char name[LV_DOMAIN_NAME_MAX];
    lv_domain_name("small-0a1b2c", name, sizeof(name));
    cr_assert_str_eq(name, "warmpool-small-0a1b2c");
    hv_vm_spec_t s = spec();
    dom_t d = parse(&s, &boot);
    assert_values(&d, (const expect_t[]){
                          {"/domain/name", "warmpool-small-0a1b2c"},
                          {"/domain/@type", "qemu"},
                          {"/domain/memory", "256"},
                          {"/domain/memory/@unit", "MiB"},
                          {"/domain/vcpu", "2"},
                          {"/domain/os/type/@machine", "q35"},
                          {"/domain/os/kernel", "/t/kernel"},
                          {"/domain/os/initrd", "/t/initrd"},
                          {"/domain/os/cmdline", "console=ttyS0 quiet"},
                          {"/domain/devices/emulator", "/usr/bin/qemu-system-x86_64"},
                          {NULL, NULL},
                      });
    dom_free(&d);
}

Test(lv_xml, genid_given_or_automatic)
{
    hv_vm_spec_t s = spec();
    dom_t d = parse(&s, &incoming);
    cr_assert_eq(count(&d, "/domain/genid"), 1);
    cr_assert_str_eq(str(&d, "/domain/genid"), "6f1c2a9e-1111-4222-8333-444455556666");
    dom_free(&d);
    /* no GUID: an empty <genid/>, for which libvirt makes one */
    s.vmgenid = NULL;
    d = parse(&s, &boot);
    cr_assert_eq(count(&d, "/domain/genid"), 1);
    cr_assert_eq(count(&d, "/domain/genid/node()"), 0);
    dom_free(&d);
}

Test(lv_xml, template_ram_shared)
{
    hv_vm_spec_t s = spec();
    dom_t d = parse(&s, &boot);
    const char *a[16];
    qemu_args(&d, a);
    int i = find(a, "-object");
    cr_assert_geq(i, 0);
    cr_assert_str_eq(a[i + 1], "memory-backend-file,id=" LV_MEMORY_ID
                               ",size=256M,mem-path=/dev/shm/small.mem,share=on");
    i = find(a, "-machine");
    cr_assert_geq(i, 0);
    cr_assert_str_eq(a[i + 1], "memory-backend=" LV_MEMORY_ID);
    cr_assert_eq(find(a, "-incoming"), -1, "a template boots, it does not wait for state");
    dom_free(&d);
}

Test(lv_xml, clone_ram_private_and_incoming)
{
    hv_vm_spec_t s = spec();
    s.memory_shared = false;
    dom_t d = parse(&s, &incoming);
    const char *a[16];
    qemu_args(&d, a);
    int i = find(a, "-object");
    cr_assert_geq(i, 0);
    cr_assert_str_eq(a[i + 1], "memory-backend-file,id=" LV_MEMORY_ID
                               ",size=256M,mem-path=/dev/shm/small.mem,share=off");
    i = find(a, "-incoming");
    cr_assert_geq(i, 0);
    cr_assert_str_eq(a[i + 1], "defer");
    dom_free(&d);
}

Test(lv_xml, awkward_values_stay_whole)
{
    hv_vm_spec_t s = spec();
    s.memory_shared = false;
    s.memory_file = "/dev/shm/a'b\"c&d,e.mem";
    s.kernel = "/t/k'e\"r&n<e>l";
    s.cmdline = "console=ttyS0 x=\"a&b\" y='c'";
    s.share_dir = "/srv/s'h\"a&r,e";
    dom_t d = parse(&s, &incoming);
    const char *a[16];
    qemu_args(&d, a);
    int i = find(a, "-object");
    cr_assert_geq(i, 0);
    /* one argument; QemuOpts reads ",," as a comma inside the value */
    cr_assert_str_eq(a[i + 1], "memory-backend-file,id=" LV_MEMORY_ID
                               ",size=256M,mem-path=/dev/shm/a'b\"c&d,,e.mem,share=off");
    cr_assert_str_eq(str(&d, "/domain/os/kernel"), "/t/k'e\"r&n<e>l");
    cr_assert_str_eq(str(&d, "/domain/os/cmdline"), "console=ttyS0 x=\"a&b\" y='c'");
    /* libvirt escapes the fsdev path itself: the XML carries it unchanged */
    cr_assert_str_eq(str(&d, "/domain/devices/filesystem/source/@dir"), "/srv/s'h\"a&r,e");
    dom_free(&d);
}

Test(lv_xml, acpi_and_nothing_unused)
{
    hv_vm_spec_t s = spec();
    dom_t d = parse(&s, &boot);
    /* vmgenid's change notification is an ACPI notification */
    cr_assert_eq(count(&d, "/domain/features/acpi"), 1);
    assert_values(&d, (const expect_t[]){
                          {"/domain/devices/controller[@type='usb']/@model", "none"},
                          {"/domain/devices/memballoon/@model", "none"},
                          {"/domain/on_reboot", "destroy"},
                          {"/domain/seclabel/@relabel", "no"},
                          {"/domain/devices/serial/source/@path", RUN "/console.log"},
                          {NULL, NULL},
                      });
    dom_free(&d);
}

Test(lv_xml, cpu_model)
{
    hv_vm_spec_t s = spec();
    dom_t d = parse(&s, &boot);
    cr_assert_str_eq(str(&d, "/domain/cpu/@mode"), "maximum");
    cr_assert_eq(count(&d, "/domain/cpu/model"), 0);
    dom_free(&d);
    s.cpu_model = "Skylake-Client";
    d = parse(&s, &boot);
    assert_values(&d, (const expect_t[]){
                          {"/domain/cpu/@mode", "custom"},
                          {"/domain/cpu/model", "Skylake-Client"},
                          {"/domain/cpu/model/@fallback", "forbid"},
                          {NULL, NULL},
                      });
    dom_free(&d);
}

/* libvirt's one-qom-get-per-feature read of the vCPU (~400 QMP calls a
 * start) is turned off the same way for a template and its clones */
Test(lv_xml, per_feature_cpu_probe_off)
{
    hv_vm_spec_t s = spec();
    for (int mode = 0; mode < 2; mode++) {
        s.memory_shared = mode == 0;
        dom_t d = parse(&s, mode == 0 ? &boot : &incoming);
        cr_assert_eq(count(&d, "/domain/qemu:capabilities/qemu:del"), 1);
        cr_assert_str_eq(str(&d, "/domain/qemu:capabilities/qemu:del/@capability"),
                         "cpu-unavailable-features");
        cr_assert_eq(count(&d, "/domain/qemu:capabilities/qemu:add"), 0);
        dom_free(&d);
    }
}

Test(lv_xml, agent_channel)
{
    hv_vm_spec_t s = spec();
    dom_t d = parse(&s, &boot);
    cr_assert_eq(count(&d, "/domain/devices/channel"), 1);
    assert_values(&d, (const expect_t[]){
                          {"/domain/devices/channel/@type", "unix"},
                          {"/domain/devices/channel/source/@mode", "bind"},
                          {"/domain/devices/channel/source/@path", RUN "/agent.sock"},
                          {"/domain/devices/channel/target/@type", "virtio"},
                          {"/domain/devices/channel/target/@name", HV_AGENT_PORT_NAME},
                          {NULL, NULL},
                      });
    cr_assert_eq(count(&d, "/domain/devices/controller[@type='virtio-serial']"), 1);
    cr_assert_eq(count(&d, "/domain/devices/vsock"), 0);
    dom_free(&d);
}

Test(lv_xml, agent_vsock)
{
    hv_vm_spec_t s = spec();
    s.agent_transport = HV_AGENT_VSOCK;
    s.vsock_cid = 1234;
    dom_t d = parse(&s, &boot);
    assert_values(&d, (const expect_t[]){
                          {"/domain/devices/vsock/@model", "virtio"},
                          {"/domain/devices/vsock/cid/@auto", "no"},
                          {"/domain/devices/vsock/cid/@address", "1234"},
                          {NULL, NULL},
                      });
    cr_assert_eq(count(&d, "/domain/devices/channel"), 0);
    cr_assert_eq(count(&d, "/domain/devices/controller[@type='virtio-serial']"), 0);
    dom_free(&d);
}

Test(lv_xml, share_dir)
{
    hv_vm_spec_t s = spec();
    dom_t d = parse(&s, &boot);
    cr_assert_eq(count(&d, "/domain/devices/filesystem"), 1);
    assert_values(&d, (const expect_t[]){
                          {"/domain/devices/filesystem/@type", "mount"},
                          {"/domain/devices/filesystem/@accessmode", "squash"},
                          {"/domain/devices/filesystem/@multidevs", "remap"},
                          {"/domain/devices/filesystem/source/@dir", RUN "/shared"},
                          {"/domain/devices/filesystem/target/@dir", LV_SHARE_TAG},
                          {NULL, NULL},
                      });
    dom_free(&d);
    s.share_dir = NULL;
    d = parse(&s, &boot);
    cr_assert_eq(count(&d, "/domain/devices/filesystem"), 0);
    dom_free(&d);
}

/* Every PCI device on pcie.0 at its own fixed slot: libvirt then adds no
 * pcie-root-port, and the layout does not depend on libvirt's choices. */
static void assert_pcie_root_layout(dom_t *d, int devices)
{
    cr_assert_eq(count(d, "/domain/devices//address[@type='pci']"), devices);
    cr_assert_eq(count(d, "/domain/devices//address[@type='pci' and @bus='0x00']"), devices);
    cr_assert_eq(count(d, "/domain/devices/controller[@model='pcie-root-port']"), 0);
    if (devices == 2)
        cr_assert_str_neq(str(d, "(/domain/devices//address[@type='pci'])[1]/@slot"),
                          str(d, "(/domain/devices//address[@type='pci'])[2]/@slot"));
}

Test(lv_xml, pci_layout)
{
    hv_vm_spec_t s = spec();
    dom_t d = parse(&s, &boot);
    assert_pcie_root_layout(&d, 2);
    cr_assert_str_eq(str(&d, "/domain/devices/controller[@type='virtio-serial']/address/@slot"),
                     LV_SLOT_AGENT);
    cr_assert_str_eq(str(&d, "/domain/devices/filesystem/address/@slot"), LV_SLOT_SHARE);
    dom_free(&d);
    s.agent_transport = HV_AGENT_VSOCK;
    s.vsock_cid = 7;
    d = parse(&s, &boot);
    assert_pcie_root_layout(&d, 2);
    cr_assert_str_eq(str(&d, "/domain/devices/vsock/address/@slot"), LV_SLOT_AGENT);
    dom_free(&d);
}

/* The serialized <devices> of a domain (the layout the migration stream depends on). */
static char *devices_text(dom_t *d)
{
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/domain/devices", d->ctx);
    cr_assert(r && r->nodesetval && r->nodesetval->nodeNr == 1);
    xmlBufferPtr buf = xmlBufferCreate();
    xmlNodeDump(buf, d->doc, r->nodesetval->nodeTab[0], 0, 0);
    char *out = strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    xmlXPathFreeObject(r);
    return out;
}

Test(lv_xml, template_and_clone_same_machine)
{
    hv_vm_spec_t t = spec();
    hv_vm_spec_t c = spec();
    c.id = "small-ffeedd";
    c.runtime_dir = t.runtime_dir; /* the files differ per VM; compare the layout */
    c.memory_shared = false;
    c.vmgenid = "0badc0de-1111-4222-8333-444455556666";
    dom_t dt = parse(&t, &boot), dc = parse(&c, &incoming);
    char *a = devices_text(&dt), *b = devices_text(&dc);
    cr_assert_str_eq(a, b);
    cr_assert_str_eq(str(&dt, "/domain/os/type/@machine"), str(&dc, "/domain/os/type/@machine"));
    cr_assert_str_eq(str(&dt, "/domain/cpu/@mode"), str(&dc, "/domain/cpu/@mode"));
    cr_assert_eq(count(&dt, "/domain/features/*"), count(&dc, "/domain/features/*"));
    free(a);
    free(b);
    dom_free(&dt);
    dom_free(&dc);
}

Test(lv_xml, spec_errors_are_einval)
{
    wp_error_t err = {0};
    hv_vm_spec_t s = spec();
    s.kernel = NULL;
    cr_assert_null(lv_domain_xml(&s, &boot, &err));
    cr_assert_eq(err.code, EINVAL);
    s = spec();
    s.vcpus = 0;
    err = (wp_error_t){0};
    cr_assert_null(lv_domain_xml(&s, &boot, &err));
    cr_assert_eq(err.code, EINVAL);
    s = spec();
    s.id = NULL;
    err = (wp_error_t){0};
    cr_assert_null(lv_domain_xml(&s, &incoming, &err));
    cr_assert_eq(err.code, EINVAL);
    s = spec();
    s.memory_file = NULL;
    err = (wp_error_t){0};
    cr_assert_null(lv_domain_xml(&s, &incoming, &err));
    cr_assert_eq(err.code, EINVAL);
}

Test(lv_xml, devices_description)
{
    hv_vm_spec_t s = spec();
    hv_description_t d = {0};
    lv_xml_devices(&s, &d);
    cr_assert_eq(d.n_devices, 6);
    cr_assert_str_eq(d.devices[3], "virtio-serial@pcie.0:" LV_SLOT_AGENT);
    cr_assert_str_eq(d.devices[5], "filesystem:9p@pcie.0:" LV_SLOT_SHARE);
    s.agent_transport = HV_AGENT_VSOCK;
    s.vsock_cid = 7;
    s.share_dir = NULL;
    lv_xml_devices(&s, &d);
    cr_assert_eq(d.n_devices, 4);
    cr_assert_str_eq(d.devices[3], "vsock@pcie.0:" LV_SLOT_AGENT);
}
