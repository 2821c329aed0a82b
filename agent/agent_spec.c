/* agent_spec.c - see agent_spec.h. The mounts, capabilities, rlimits,
 * masked and read-only paths are crun 1.8's `crun spec` (Debian 12). */
#include "agent_spec.h"

#include <errno.h>  /* EINVAL */
#include <string.h> /* strchr */

#include "wp_cleanup.h"

static const char default_spec[] =
    "{\"ociVersion\": \"1.0.0\","
    " \"process\": {\"terminal\": false, \"user\": {\"uid\": 0, \"gid\": 0}, \"cwd\": \"/\","
    "  \"capabilities\": {"
    "   \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],"
    "   \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],"
    "   \"inheritable\": [],"
    "   \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],"
    "   \"ambient\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]},"
    "  \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],"
    "  \"noNewPrivileges\": true},"
    " \"root\": {\"path\": \"rootfs\", \"readonly\": false},"
    " \"mounts\": ["
    "  {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
    "  {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\","
    "   \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},"
    "  {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\","
    "   \"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\","
    "    \"gid=5\"]},"
    "  {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\","
    "   \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},"
    "  {\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\","
    "   \"options\": [\"nosuid\", \"noexec\", \"nodev\"]},"
    "  {\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\","
    "   \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]},"
    "  {\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\","
    "   \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"relatime\", \"ro\"]}],"
    " \"linux\": {"
    "  \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},"
    "  \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"ipc\"}, {\"type\": \"uts\"},"
    "   {\"type\": \"mount\"}],"
    "  \"maskedPaths\": [\"/proc/acpi\", \"/proc/asound\", \"/proc/kcore\", \"/proc/keys\","
    "   \"/proc/latency_stats\", \"/proc/timer_list\", \"/proc/timer_stats\","
    "   \"/proc/sched_debug\", \"/sys/firmware\", \"/proc/scsi\"],"
    "  \"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\","
    "   \"/proc/sysrq-trigger\"]}}";

json_t *agent_spec_default(int argc, char *const *args, char *const *env, bool terminal,
                           const char *hostname, wp_error_t *err)
{
    if (argc < 1) {
        wp_error_set(err, EINVAL, "a container needs a command");
        return NULL;
    }
    json_error_t jerr;
    json_auto_t *spec = json_loads(default_spec, 0, &jerr);
    if (spec == NULL) {
        wp_error_set(err, EINVAL, "default spec: %s", jerr.text); /* a bug: tests parse it */
        return NULL;
    }
    json_t *process = json_object_get(spec, "process");
    json_t *a = json_array(), *e = json_array();
    json_object_set_new(process, "args", a);
    json_object_set_new(process, "env", e);
    for (int i = 0; i < argc; i++)
        json_array_append_new(a, json_string(args[i]));
    json_array_append_new(e, json_string(AGENT_SPEC_PATH));
    if (terminal)
        json_array_append_new(e, json_string("TERM=xterm"));
    for (size_t i = 0; env && env[i]; i++) {
        if (strchr(env[i], '=') == NULL) {
            wp_error_set(err, EINVAL, "environment entry '%s' is not NAME=value", env[i]);
            return NULL;
        }
        json_array_append_new(e, json_string(env[i]));
    }
    json_object_set_new(process, "terminal", json_boolean(terminal));
    json_object_set_new(spec, "hostname", json_string(hostname ? hostname : "warmpool"));
    /* json_string returns NULL on invalid UTF-8, which the appends drop */
    if (json_array_size(a) != (size_t)argc) {
        wp_error_set(err, EINVAL, "a command argument is not valid UTF-8");
        return NULL;
    }
    return wp_steal_ptr(&spec);
}
