/* agent_sys.c - see agent_sys.h. */
#include "agent_sys.h"

#include <errno.h>        /* errno */
#include <fcntl.h>        /* open */
#include <linux/random.h> /* RNDADDENTROPY, RNDRESEEDCRNG */
#include <stdio.h>        /* fopen */
#include <stdlib.h>       /* malloc */
#include <string.h>       /* memcpy */
#include <sys/ioctl.h>    /* ioctl */
#include <sys/mount.h>    /* mount: the 9p share */
#include <sys/random.h>   /* getrandom */
#include <sys/reboot.h>   /* reboot */
#include <sys/sysinfo.h>  /* sysinfo, get_nprocs */
#include <sys/utsname.h>  /* uname */
#include <time.h>         /* clock_gettime */
#include <unistd.h>       /* sync */

#include "wp_cleanup.h"
#include "wp_fs.h"

static int sys_reseed(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    _cleanup_close_ int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    _cleanup_free_ struct rand_pool_info *info = malloc(sizeof(*info) + len);
    if (info == NULL)
        return -ENOMEM;
    info->entropy_count = (int)(len * 8);
    info->buf_size = (int)len;
    memcpy(info->buf, buf, len);
    int ret = ioctl(fd, RNDADDENTROPY, info);
    explicit_bzero(info->buf, len);
    if (ret < 0)
        return -errno;
    /* force the CRNG to take the new input now, not at its next interval */
    if (ioctl(fd, RNDRESEEDCRNG) < 0)
        return -errno;
    return 0;
}

static int sys_get_realtime(void *opaque, int64_t *ns)
{
    (void)opaque;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return -errno;
    *ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return 0;
}

static int sys_set_realtime(void *opaque, int64_t ns)
{
    (void)opaque;
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return clock_settime(CLOCK_REALTIME, &ts) < 0 ? -errno : 0;
}

static int sys_random(void *opaque, uint8_t *buf, size_t len)
{
    (void)opaque;
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sys_info(void *opaque, agent_sys_info_t *out)
{
    (void)opaque;
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(out->kernel_release, sizeof(out->kernel_release), "%s", u.release);
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    out->uptime_ns = (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
    struct sysinfo si;
    if (sysinfo(&si) == 0)
        out->mem_total_bytes = (uint64_t)si.totalram * si.mem_unit;
    FILE *f = fopen("/proc/meminfo", "re");
    char line[128];
    unsigned long long kb;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            out->mem_available_bytes = kb * 1024;
    if (f)
        fclose(f);
    sys_get_realtime(NULL, &out->realtime_ns);
    out->online_cpus = (uint32_t)get_nprocs();
    return 0;
}

static void sys_power_off(void *opaque)
{
    (void)opaque;
    sync();
    reboot(RB_POWER_OFF);
}

/* Whether something is mounted at target (/proc/self/mounts). */
static bool mounted_at(const char *target)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mounts", "re");
    char line[1024], dev[256], dir[512];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%255s %511s", dev, dir) == 2 && strcmp(dir, target) == 0)
            return true;
    return false;
}

static int sys_mount_share(void *opaque, const char *tag, const char *target, bool *already)
{
    (void)opaque;
    *already = mounted_at(target);
    if (*already)
        return 0;
    wp_error_t err = {0};
    if (wp_mkdir_p(target, 0755, &err) < 0)
        return -err.code;
    /* the modules (9p, 9pnet_virtio) were loaded at boot; cache=none: the
     * host writes the rootfs and the guest must see it as is */
    if (mount(tag, target, "9p", 0, "trans=virtio,version=9p2000.L,msize=524288,cache=none") < 0)
        return -errno;
    return 0;
}

const agent_sys_ops_t agent_sys_linux = {
    .mount_share = sys_mount_share,
    .add_entropy_and_reseed = sys_reseed,
    .get_realtime = sys_get_realtime,
    .set_realtime = sys_set_realtime,
    .random_bytes = sys_random,
    .info = sys_info,
    .power_off = sys_power_off,
};

void agent_sys_boot_id(char out[40])
{
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f == NULL)
        return;
    if (fgets(out, 40, f) != NULL)
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}
