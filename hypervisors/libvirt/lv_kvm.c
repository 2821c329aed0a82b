/* lv_kvm.c - see lv_kvm.h. */
#include "lv_kvm.h"

#include <ctype.h>    /* isspace */
#include <grp.h>      /* getgrnam_r, getgrouplist */
#include <pwd.h>      /* getpwnam_r */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* strtoul */
#include <string.h>   /* strncmp */
#include <sys/stat.h> /* stat */

#include "wp_fs.h"

bool lv_kvm_mode_allows(mode_t mode, uid_t node_uid, gid_t node_gid, uid_t uid, const gid_t *groups,
                        size_t ngroups)
{
    if (uid == 0)
        return true;
    /* access(2): the owner's bits if the owner, else the group's if any
     * group matches, else the others' (no fall-through between classes) */
    if (uid == node_uid)
        return (mode & (S_IRUSR | S_IWUSR)) == (S_IRUSR | S_IWUSR);
    for (size_t i = 0; i < ngroups; i++)
        if (groups[i] == node_gid)
            return (mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP);
    return (mode & (S_IROTH | S_IWOTH)) == (S_IROTH | S_IWOTH);
}

/* If line is `key = "value"` (spaces free), copy value to out. */
static void conf_value(const char *line, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    if (strncmp(line, key, klen) != 0)
        return;
    const char *p = line + klen;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != '=')
        return;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != '"')
        return;
    const char *end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= len)
        return;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
}

void lv_qemu_conf_ids(const char *conf_text, char *user, size_t user_len, char *group,
                      size_t group_len)
{
    for (const char *line = conf_text; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        char buf[512];
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n < sizeof(buf)) {
            memcpy(buf, line, n);
            buf[n] = '\0';
            const char *p = buf;
            while (isspace((unsigned char)*p))
                p++;
            conf_value(p, "user", user, user_len);
            conf_value(p, "group", group, group_len);
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* libvirt's "+N" is a numeric id; else a name looked up here. */
static bool resolve_user(const char *name, uid_t *uid, gid_t *gid)
{
    if (name[0] == '+') {
        *uid = (uid_t)strtoul(name + 1, NULL, 10);
        return true;
    }
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
        return false;
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return true;
}

static bool resolve_group(const char *name, gid_t *gid)
{
    if (name[0] == '+') {
        *gid = (gid_t)strtoul(name + 1, NULL, 10);
        return true;
    }
    struct group gr, *res = NULL;
    char buf[4096];
    if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
        return false;
    *gid = gr.gr_gid;
    return true;
}

int lv_kvm_check(const char *device, const char *conf_path, char *msg, size_t len)
{
    struct stat st;
    if (stat(device, &st) < 0)
        return 0;
    /* libvirt's defaults, then what qemu.conf sets */
    char user[128] = LV_QEMU_USER_DEF, group[128] = "";
    char *conf = wp_read_file(conf_path, 1 << 20, NULL, NULL);
    if (conf != NULL)
        lv_qemu_conf_ids(conf, user, sizeof(user), group, sizeof(group));
    free(conf);
    uid_t uid = 0;
    gid_t gid = 0;
    if (!resolve_user(user, &uid, &gid))
        return 0;
    if (group[0] != '\0' && !resolve_group(group, &gid))
        return 0;
    /* the groups libvirt gives QEMU: the configured one and the user's own */
    gid_t groups[256];
    int ngroups = (int)(sizeof(groups) / sizeof(groups[0]));
    if (user[0] == '+' || getgrouplist(user, gid, groups, &ngroups) < 0) {
        groups[0] = gid;
        ngroups = 1;
    }
    if (lv_kvm_mode_allows(st.st_mode, st.st_uid, st.st_gid, uid, groups, (size_t)ngroups))
        return 0;
    char owner[64] = "", grp[64] = "";
    struct passwd pw, *pres = NULL;
    struct group gr, *gres = NULL;
    char buf[4096];
    if (getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &pres) == 0 && pres != NULL)
        snprintf(owner, sizeof(owner), "%s", pw.pw_name);
    else
        snprintf(owner, sizeof(owner), "%u", (unsigned)st.st_uid);
    if (getgrgid_r(st.st_gid, &gr, buf, sizeof(buf), &gres) == 0 && gres != NULL)
        snprintf(grp, sizeof(grp), "%s", gr.gr_name);
    else
        snprintf(grp, sizeof(grp), "%u", (unsigned)st.st_gid);
    snprintf(msg, len,
             "libvirt: '%s' (%s:%s, mode %04o) cannot be opened by '%s', the user libvirt runs "
             "QEMU as: libvirtd then takes its cached QEMU capabilities for stale and re-probes "
             "QEMU (about a minute) before every domain it starts; fix: 'chgrp kvm %s && chmod "
             "0660 %s' (deploy/host/kvm-device.sh; udev does this on a packaged host)",
             device, owner, grp, (unsigned)(st.st_mode & 07777), user, device, device);
    return 1;
}
