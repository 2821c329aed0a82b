/* test_fs.c - wp_rm_tree removes a tree, does not follow a symlink out of
 * it, and never enters a mount inside it (a bind mount of files that are
 * not the tree's: a container's rootfs left in a VM's shared directory).
 * Needs root (mount). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wp_fs.h"

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fclose(f);
}

static bool exists(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    struct stat st;
    return lstat(p, &st) == 0;
}

static char mnt[512]; /* the bind mount, undone by fini even after a failed assertion */

static void unmount_left(void)
{
    if (mnt[0] != '\0')
        umount2(mnt, MNT_DETACH);
}

Test(fs, rm_tree_keeps_out_of_symlinks_and_mounts, .fini = unmount_left)
{
    cr_assert_eq(geteuid(), 0, "needs root (bind mount)");
    char tree[] = "/tmp/wp-fs-tree-XXXXXX", outside[] = "/tmp/wp-fs-out-XXXXXX";
    cr_assert_not_null(mkdtemp(tree));
    cr_assert_not_null(mkdtemp(outside));
    touch(outside, "precious");
    char sub[512], link[512];
    snprintf(sub, sizeof(sub), "%s/shared/c1", tree);
    cr_assert_eq(wp_mkdir_p(sub, 0755, NULL), 0);
    touch(sub, "file");
    snprintf(link, sizeof(link), "%s/shared/out", tree);
    cr_assert_eq(symlink(outside, link), 0);
    snprintf(mnt, sizeof(mnt), "%s/rootfs", sub);
    cr_assert_eq(mkdir(mnt, 0755), 0);
    /* same filesystem, so only the mount id tells: the case that matters */
    cr_assert_eq(mount(outside, mnt, NULL, MS_BIND, NULL), 0, "%s", strerror(errno));

    wp_error_t err = {0};
    cr_assert_eq(wp_rm_tree(tree, &err), -1, "a tree with a mount in it");
    cr_assert_eq(err.code, EBUSY, "%d %s", err.code, err.msg);
    cr_assert(strstr(err.msg, "'rootfs' is a mount point") != NULL, "%s", err.msg);
    cr_assert(exists(outside, "precious"), "nothing under the mount was removed");

    cr_assert_eq(umount2(mnt, 0), 0);
    mnt[0] = '\0';
    cr_assert_eq(wp_rm_tree(tree, &err), 0, "%s", err.msg);
    cr_assert_not(exists(tree, ""), "the tree is gone");
    cr_assert(exists(outside, "precious"), "the symlink was not followed");
    cr_assert_eq(wp_rm_tree(tree, &err), 0, "a missing tree is success");
    cr_assert_eq(wp_rm_tree(outside, &err), 0, "%s", err.msg);
}
