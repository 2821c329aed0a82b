/* test_lv_kvm.c - the libvirt backend's /dev/kvm check: access(2)'s rule on
 * mode bits (owner, else group, else others), qemu.conf's user and group,
 * and the whole check on stand-in device files (needs root: chown). */
#include <criterion/criterion.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lv_kvm.h"

Test(lv_kvm, mode_bits_as_access_decides)
{
    gid_t kvm[] = {1000, 107};
    /* what a host without udev has: root:root 0600 */
    cr_assert_not(lv_kvm_mode_allows(0600, 0, 0, 64055, kvm, 2));
    cr_assert(lv_kvm_mode_allows(0600, 0, 0, 0, NULL, 0), "root opens anything");
    /* Debian's udev rule: root:kvm 0660, the user is in kvm */
    cr_assert(lv_kvm_mode_allows(0660, 0, 107, 64055, kvm, 2));
    cr_assert_not(lv_kvm_mode_allows(0640, 0, 107, 64055, kvm, 2), "read only is not enough");
    cr_assert_not(lv_kvm_mode_allows(0660, 0, 108, 64055, kvm, 2), "not in the group");
    cr_assert(lv_kvm_mode_allows(0666, 0, 108, 64055, kvm, 2), "open to everyone");
    /* no fall-through: a matching group with no bits denies, even at 0606 */
    cr_assert_not(lv_kvm_mode_allows(0606, 0, 107, 64055, kvm, 2));
    cr_assert_not(lv_kvm_mode_allows(0066, 64055, 107, 64055, kvm, 2), "the owner's bits rule");
}

Test(lv_kvm, qemu_conf_user_and_group)
{
    char user[64] = "libvirt-qemu", group[64] = "";
    lv_qemu_conf_ids("# user = \"commented\"\n#group = \"no\"\n", user, sizeof(user), group,
                     sizeof(group));
    cr_assert_str_eq(user, "libvirt-qemu", "comments change nothing");
    cr_assert_str_eq(group, "");
    lv_qemu_conf_ids("security_driver = \"none\"\n  user = \"qemu\"\ngroup=\"kvm\"\n"
                     "username = \"not-this\"\nuser = \"+107\"",
                     user, sizeof(user), group, sizeof(group));
    cr_assert_str_eq(user, "+107", "the last setting wins, numeric kept");
    cr_assert_str_eq(group, "kvm");
    lv_qemu_conf_ids("user = unquoted\nuser = \"unterminated\n", user, sizeof(user), group,
                     sizeof(group));
    cr_assert_str_eq(user, "+107", "malformed lines are ignored");
}

/* A stand-in device owned by root:gid with mode, and a qemu.conf naming
 * user/group; returns the check's result and message. */
static int check(const char *dir, gid_t gid, mode_t mode, const char *conf_text, char *msg,
                 size_t len)
{
    char dev[256], conf[256];
    snprintf(dev, sizeof(dev), "%s/kvm", dir);
    snprintf(conf, sizeof(conf), "%s/qemu.conf", dir);
    FILE *f = fopen(dev, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(chown(dev, 0, gid), 0);
    cr_assert_eq(chmod(dev, mode), 0);
    f = fopen(conf, "w");
    cr_assert_not_null(f);
    fputs(conf_text, f);
    fclose(f);
    msg[0] = '\0';
    return lv_kvm_check(dev, conf, msg, len);
}

Test(lv_kvm, the_check_on_stand_in_devices)
{
    cr_assert_eq(geteuid(), 0, "needs root (chown of the stand-in device)");
    char dir[] = "/tmp/wp-lv-kvm-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    /* "nobody" with its own primary group stands for libvirt-qemu */
    struct passwd *nobody = getpwnam("nobody");
    cr_assert_not_null(nobody);
    char msg[768];
    cr_assert_eq(check(dir, 0, 0600, "user = \"nobody\"\n", msg, sizeof(msg)), 1);
    cr_assert(strstr(msg, "cannot be opened by 'nobody'") != NULL, "%s", msg);
    cr_assert(strstr(msg, "mode 0600") != NULL && strstr(msg, "root:root") != NULL, "%s", msg);
    cr_assert(strstr(msg, "chgrp kvm") != NULL && strstr(msg, "re-probes") != NULL, "%s", msg);
    cr_assert_eq(check(dir, nobody->pw_gid, 0660, "user = \"nobody\"\n", msg, sizeof(msg)), 0,
                 "the user's own group may: %s", msg);
    cr_assert_eq(check(dir, 0, 0660, "user = \"nobody\"\n", msg, sizeof(msg)), 1,
                 "group rw, but not its group");
    cr_assert_eq(check(dir, 0, 0666, "user = \"nobody\"\n", msg, sizeof(msg)), 0);
    cr_assert_eq(check(dir, 0, 0600, "user = \"root\"\n", msg, sizeof(msg)), 0, "root may");
    cr_assert_eq(check(dir, 0, 0600, "user = \"no-such-user-wp\"\n", msg, sizeof(msg)), 0,
                 "nothing to check for a user that does not exist");
    char dev[256];
    snprintf(dev, sizeof(dev), "%s/kvm", dir);
    unlink(dev);
    cr_assert_eq(lv_kvm_check(dev, "/nonexistent/qemu.conf", msg, sizeof(msg)), 0, "no device");
    char conf[256];
    snprintf(conf, sizeof(conf), "%s/qemu.conf", dir);
    unlink(conf);
    cr_assert_eq(rmdir(dir), 0);
}
