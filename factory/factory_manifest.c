/* factory_manifest.c - see factory_manifest.h. */
#include "factory_manifest.h"

#include <errno.h>   /* EINVAL */
#include <jansson.h> /* json_* */
#include <stdio.h>   /* snprintf */
#include <string.h>  /* strlen */

static json_t *file_record(const factory_file_record_t *r)
{
    return json_pack("{s:s, s:I, s:s}", "file", r->file, "size", (json_int_t)r->size, "sha256",
                     r->sha256);
}

char *factory_manifest_to_json(const factory_manifest_t *m, wp_error_t *err)
{
    json_auto_t *devices = json_array();
    for (unsigned i = 0; devices && i < m->hv.n_devices; i++)
        json_array_append_new(devices, json_string(m->hv.devices[i]));
    json_auto_t *root = json_pack(
        "{s:i, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:O}, s:s, s:s,"
        " s:o, s:o, s:o, s:{s:s, s:I}, s:s, s:{s:s, s:s, s:i}, s:{s:s, s:s},"
        " s:{s:f, s:f}}",
        "format", m->format, "name", m->name, "created", m->created, "hypervisor", "backend",
        m->hv.backend, "binary", m->hv.binary, "version", m->hv.version, "machine",
        m->hv.machine, "cpu_model", m->hv.cpu_model, "memory_mib", (int)m->hv.memory_mib,
        "vcpus", (int)m->hv.vcpus, "devices", devices, "cmdline", m->cmdline,
        "agent_transport", m->transport == HV_AGENT_VSOCK ? "vsock" : "serial", "kernel",
        file_record(&m->kernel), "initrd", file_record(&m->initrd), "state",
        file_record(&m->state), "memory", "file", m->memory_file, "size",
        (json_int_t)m->memory_size, "vmgenid", m->vmgenid, "agent", "version",
        m->agent_version, "boot_id", m->agent_boot_id, "protocol", (int)m->agent_protocol,
        "source", "kernel", m->source_kernel, "initrd", m->source_initrd, "build_ms",
        "boot_to_agent", m->boot_to_agent_ms, "save", m->save_ms);
    if (root == NULL) {
        wp_error_set(err, ENOMEM, "serialise manifest of '%s'", m->name);
        return NULL;
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL)
        wp_error_set(err, ENOMEM, "serialise manifest of '%s'", m->name);
    return text;
}

/* Copy a JSON string into a fixed buffer, failing if it does not fit. */
static int take_string(const char *src, char *dst, size_t cap, const char *field,
                       wp_error_t *err)
{
    size_t len = strlen(src);
    if (len >= cap)
        return wp_error_set(err, EINVAL, "field '%s' is %zu bytes, more than %zu", field, len,
                            cap - 1);
    memcpy(dst, src, len + 1);
    return 0;
}

static int parse_file_record(json_t *j, const char *field, factory_file_record_t *out,
                             wp_error_t *err)
{
    const char *file, *sha;
    json_int_t size;
    json_error_t jerr;
    if (json_unpack_ex(j, &jerr, JSON_STRICT, "{s:s, s:I, s:s}", "file", &file, "size", &size,
                       "sha256", &sha) < 0)
        return wp_error_set(err, EINVAL, "field '%s': %s", field, jerr.text);
    if (size < 0 || strlen(sha) != FACTORY_SHA256_HEX - 1 || strchr(file, '/') != NULL)
        return wp_error_set(err, EINVAL, "field '%s' is malformed", field);
    out->size = (uint64_t)size;
    if (take_string(file, out->file, sizeof(out->file), field, err) < 0)
        return -1;
    return take_string(sha, out->sha256, sizeof(out->sha256), field, err);
}

/* Every required field with its JSON type, so an error can name the field
 * (jansson's unpack errors do not say which key failed). */
static const struct {
    const char *path;
    json_type type;
} manifest_fields[] = {
    {"name", JSON_STRING},
    {"created", JSON_STRING},
    {"hypervisor", JSON_OBJECT},
    {"hypervisor.backend", JSON_STRING},
    {"hypervisor.binary", JSON_STRING},
    {"hypervisor.version", JSON_STRING},
    {"hypervisor.machine", JSON_STRING},
    {"hypervisor.cpu_model", JSON_STRING},
    {"hypervisor.memory_mib", JSON_INTEGER},
    {"hypervisor.vcpus", JSON_INTEGER},
    {"hypervisor.devices", JSON_ARRAY},
    {"cmdline", JSON_STRING},
    {"agent_transport", JSON_STRING},
    {"kernel", JSON_OBJECT},
    {"initrd", JSON_OBJECT},
    {"state", JSON_OBJECT},
    {"memory", JSON_OBJECT},
    {"memory.file", JSON_STRING},
    {"memory.size", JSON_INTEGER},
    {"vmgenid", JSON_STRING},
    {"agent", JSON_OBJECT},
    {"agent.version", JSON_STRING},
    {"agent.boot_id", JSON_STRING},
    {"agent.protocol", JSON_INTEGER},
    {"source", JSON_OBJECT},
    {"source.kernel", JSON_STRING},
    {"source.initrd", JSON_STRING},
    {"build_ms", JSON_OBJECT},
};

static const char *type_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    default:
        return "a value";
    }
}

static int check_fields(json_t *root, wp_error_t *err)
{
    for (size_t i = 0; i < sizeof(manifest_fields) / sizeof(manifest_fields[0]); i++) {
        const char *path = manifest_fields[i].path;
        const char *dot = strchr(path, '.');
        json_t *v = root;
        if (dot != NULL) {
            char parent[32];
            snprintf(parent, sizeof(parent), "%.*s", (int)(dot - path), path);
            v = json_object_get(root, parent);
        }
        v = v ? json_object_get(v, dot ? dot + 1 : path) : NULL;
        if (v == NULL)
            return wp_error_set(err, EINVAL, "manifest: field '%s' is missing", path);
        if (json_typeof(v) != manifest_fields[i].type)
            return wp_error_set(err, EINVAL, "manifest: field '%s' must be %s", path,
                                type_name(manifest_fields[i].type));
    }
    return 0;
}

int factory_manifest_from_json(const char *text, factory_manifest_t *out, wp_error_t *err)
{
    json_error_t jerr;
    json_auto_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return wp_error_set(err, EINVAL, "manifest is not valid JSON (line %d): %s", jerr.line,
                            jerr.text);
    *out = (factory_manifest_t){0};
    const char *name, *created, *backend, *binary, *version, *machine, *cpu, *cmdline,
        *transport, *memfile, *vmgenid, *agent_version, *boot_id, *src_kernel, *src_initrd;
    int memory_mib, vcpus, protocol;
    json_int_t memsize;
    json_t *devices, *kernel, *initrd, *state;
    if (json_unpack_ex(root, &jerr, 0, "{s:i}", "format", &out->format) < 0)
        return wp_error_set(err, EINVAL, "manifest: %s", jerr.text);
    if (out->format != FACTORY_MANIFEST_FORMAT)
        return wp_error_set(err, EINVAL, "manifest format %d is not the supported format %d",
                            out->format, FACTORY_MANIFEST_FORMAT);
    if (check_fields(root, err) < 0)
        return -1;
    if (json_unpack_ex(root, &jerr, JSON_STRICT,
                       "{s:i, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:o}, s:s, s:s,"
                       " s:o, s:o, s:o, s:{s:s, s:I}, s:s, s:{s:s, s:s, s:i}, s:{s:s, s:s},"
                       " s:{s:F, s:F}}",
                       "format", &out->format, "name", &name, "created", &created, "hypervisor",
                       "backend", &backend, "binary", &binary, "version", &version, "machine",
                       &machine, "cpu_model", &cpu, "memory_mib", &memory_mib, "vcpus", &vcpus,
                       "devices", &devices, "cmdline", &cmdline, "agent_transport", &transport,
                       "kernel", &kernel, "initrd", &initrd, "state", &state, "memory", "file",
                       &memfile, "size", &memsize, "vmgenid", &vmgenid, "agent", "version",
                       &agent_version, "boot_id", &boot_id, "protocol", &protocol, "source",
                       "kernel", &src_kernel, "initrd", &src_initrd, "build_ms",
                       "boot_to_agent", &out->boot_to_agent_ms, "save", &out->save_ms) < 0)
        return wp_error_set(err, EINVAL, "manifest: %s", jerr.text);
    if (memory_mib <= 0 || vcpus <= 0 || memsize <= 0 || protocol <= 0)
        return wp_error_set(err, EINVAL, "manifest: sizes and counts must be positive");
    if (strcmp(transport, "serial") == 0)
        out->transport = HV_AGENT_SERIAL;
    else if (strcmp(transport, "vsock") == 0)
        out->transport = HV_AGENT_VSOCK;
    else
        return wp_error_set(err, EINVAL, "manifest: unknown agent_transport '%s'", transport);
    if (!json_is_array(devices) || json_array_size(devices) > HV_MAX_DEVICES)
        return wp_error_set(err, EINVAL, "manifest: 'devices' must be a list of at most %d",
                            HV_MAX_DEVICES);
    size_t i;
    json_t *dev;
    json_array_foreach(devices, i, dev)
    {
        if (!json_is_string(dev) ||
            take_string(json_string_value(dev), out->hv.devices[i], sizeof(out->hv.devices[i]),
                        "devices", err) < 0)
            return wp_error_set(err, EINVAL, "manifest: 'devices' must hold short strings");
    }
    out->hv.n_devices = (unsigned)json_array_size(devices);
    out->hv.memory_mib = (unsigned)memory_mib;
    out->hv.vcpus = (unsigned)vcpus;
    out->memory_size = (uint64_t)memsize;
    out->agent_protocol = (unsigned)protocol;
    struct {
        const char *src;
        char *dst;
        size_t cap;
        const char *field;
    } strings[] = {
        {name, out->name, sizeof(out->name), "name"},
        {created, out->created, sizeof(out->created), "created"},
        {backend, out->hv.backend, sizeof(out->hv.backend), "hypervisor.backend"},
        {binary, out->hv.binary, sizeof(out->hv.binary), "hypervisor.binary"},
        {version, out->hv.version, sizeof(out->hv.version), "hypervisor.version"},
        {machine, out->hv.machine, sizeof(out->hv.machine), "hypervisor.machine"},
        {cpu, out->hv.cpu_model, sizeof(out->hv.cpu_model), "hypervisor.cpu_model"},
        {cmdline, out->cmdline, sizeof(out->cmdline), "cmdline"},
        {memfile, out->memory_file, sizeof(out->memory_file), "memory.file"},
        {vmgenid, out->vmgenid, sizeof(out->vmgenid), "vmgenid"},
        {agent_version, out->agent_version, sizeof(out->agent_version), "agent.version"},
        {boot_id, out->agent_boot_id, sizeof(out->agent_boot_id), "agent.boot_id"},
        {src_kernel, out->source_kernel, sizeof(out->source_kernel), "source.kernel"},
        {src_initrd, out->source_initrd, sizeof(out->source_initrd), "source.initrd"},
    };
    for (size_t k = 0; k < sizeof(strings) / sizeof(strings[0]); k++)
        if (take_string(strings[k].src, strings[k].dst, strings[k].cap, strings[k].field, err) <
            0)
            return wp_error_wrap(err, "manifest");
    if (parse_file_record(kernel, "kernel", &out->kernel, err) < 0 ||
        parse_file_record(initrd, "initrd", &out->initrd, err) < 0 ||
        parse_file_record(state, "state", &out->state, err) < 0)
        return wp_error_wrap(err, "manifest");
    if (out->memory_file[0] != '/')
        return wp_error_set(err, EINVAL, "manifest: memory.file must be an absolute path");
    return 0;
}

void factory_manifest_rebuild_hint(const factory_manifest_t *m, char *out, size_t len)
{
    snprintf(out, len,
             "warmpoolctl template build %s --kernel %s --initrd %s --memory %u --vcpus %u "
             "--force",
             m->name, m->source_kernel, m->source_initrd, m->hv.memory_mib, m->hv.vcpus);
}
