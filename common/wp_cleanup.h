/* wp_cleanup.h - scope-bound cleanup for locals (__attribute__((cleanup))).
 *
 * `_cleanup_free_ char *p = ...;` frees p when it leaves scope; assign NULL
 * (or use wp_steal_ptr) to hand ownership out. Each room defines one macro
 * per library type it owns (see e.g. agent_client.h). */
#ifndef WP_CLEANUP_H
#define WP_CLEANUP_H

#include <stdio.h>  /* FILE, fclose */
#include <stdlib.h> /* free */
#include <unistd.h> /* close */
#include <errno.h>  /* errno preserved across cleanup */

static inline void wp_freep(void *p)
{
    free(*(void **)p);
}

static inline void wp_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void wp_fclosep(FILE **f)
{
    if (*f != NULL)
        fclose(*f);
}

#define _cleanup_free_   __attribute__((cleanup(wp_freep)))
#define _cleanup_close_  __attribute__((cleanup(wp_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(wp_fclosep)))

/* Take ownership out of a cleanup-managed pointer. */
#define wp_steal_ptr(pp)                                                                           \
    ({                                                                                             \
        __typeof__(*(pp)) wp_tmp_ = *(pp);                                                         \
        *(pp) = NULL;                                                                              \
        wp_tmp_;                                                                                   \
    })

/* Take ownership out of a cleanup-managed fd. */
#define wp_steal_fd(fdp)                                                                           \
    ({                                                                                             \
        int wp_tmpfd_ = *(fdp);                                                                    \
        *(fdp) = -1;                                                                               \
        wp_tmpfd_;                                                                                 \
    })

#endif
