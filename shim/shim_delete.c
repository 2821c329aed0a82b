/* shim_delete.c - the `delete` command (shim_cmd.h). containerd runs it
 * after every task's end, whenever the shim's connection closed, so it
 * must succeed when everything is gone already; when the shim died, it is
 * the only cleanup there is: the container's files in the VM's share, its
 * rootfs mount, the lease (shim_vm_reap), its socket. Its stdout is exactly a
 * serialized DeleteResponse. */
#include <errno.h>  /* errno */
#include <stdio.h>  /* fwrite */
#include <string.h> /* strerror */
#include <unistd.h> /* getcwd */

#include "shim_cmd.h"
#include "shim_rootfs.h"
#include "shim_task.pb-c.h"
#include "shim_vm.h"
#include "wp_time.h"

int shim_cmd_delete(const shim_args_t *a, const shim_config_t *cfg)
{
    char bundle[PATH_MAX];
    if (a->bundle[0])
        snprintf(bundle, sizeof(bundle), "%s", a->bundle);
    else if (getcwd(bundle, sizeof(bundle)) == NULL)
        return shim_fail("delete: cwd: %s", strerror(errno));
    wp_error_t err = {0};
    if (shim_vm_reap(bundle, a->id, cfg, &err) < 0) {
        fprintf(stderr, "delete %s: %s", a->id, err.msg);
        return 1;
    }
    char rootfs[PATH_MAX + 8];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
    if (shim_rootfs_unmount(rootfs, &err) < 0) {
        fprintf(stderr, "delete %s: %s", a->id, err.msg);
        return 1;
    }
    /* a sandbox's shim that died left its socket: nobody answers there */
    char sock[PATH_MAX];
    if (shim_socket_path(cfg, a->address, a->ns, a->id, sock, NULL) == 0 && !shim_listens(sock))
        unlink(sock);
    /* what the runc shim answers for a task it could not wait for: killed */
    Containerd__Task__V2__Timestamp ts;
    containerd__task__v2__timestamp__init(&ts);
    int64_t now = wp_now_real_ns();
    ts.seconds = now / 1000000000;
    ts.nanos = (int32_t)(now % 1000000000);
    Containerd__Task__V2__DeleteResponse r = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    r.exit_status = 128 + 9;
    r.exited_at = &ts;
    uint8_t buf[64];
    size_t len = containerd__task__v2__delete_response__pack(&r, buf);
    return fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
}
