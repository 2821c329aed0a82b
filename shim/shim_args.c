/* shim_args.c - the shim's Go-style flags (shim_cmd.h). */
#include <stdarg.h> /* va_list */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strcmp */

#include "shim_cmd.h"

int shim_args_parse(int argc, char **argv, shim_args_t *a, char *why, size_t len)
{
    *a =
        (shim_args_t){.ns = "default", .address = "", .publish_binary = "", .id = "", .bundle = ""};
    struct {
        const char *name;
        const char **value;
    } strings[] = {
        {"namespace", &a->ns}, {"address", &a->address}, {"publish-binary", &a->publish_binary},
        {"id", &a->id},        {"bundle", &a->bundle},
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-') {
            if (a->command != NULL) {
                snprintf(why, len, "one command only ('%s', then '%s')", a->command, arg);
                return -1;
            }
            a->command = arg;
            continue;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        if (nlen == 5 && strncmp(name, "debug", 5) == 0) {
            a->debug = eq == NULL || strcmp(eq + 1, "true") == 0;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof(strings) / sizeof(strings[0]); k++) {
            if (strlen(strings[k].name) != nlen || strncmp(strings[k].name, name, nlen) != 0)
                continue;
            known = true;
            if (eq)
                *strings[k].value = eq + 1;
            else if (i + 1 < argc)
                *strings[k].value = argv[++i];
            else {
                snprintf(why, len, "flag -%s needs a value", strings[k].name);
                return -1;
            }
        }
        if (!known) {
            snprintf(why, len, "unknown flag '%s'", arg);
            return -1;
        }
    }
    if (a->command == NULL) {
        snprintf(why, len, "no command (start or delete)");
        return -1;
    }
    if (strcmp(a->command, "start") != 0 && strcmp(a->command, "delete") != 0) {
        snprintf(why, len, "unknown command '%s' (start or delete)", a->command);
        return -1;
    }
    if (a->id[0] == '\0') {
        snprintf(why, len, "-id is required");
        return -1;
    }
    return 0;
}

int shim_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}
